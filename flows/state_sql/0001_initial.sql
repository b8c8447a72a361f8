-- billing-export state store, version 1. Portable SQL for SQLite and PostgreSQL.
CREATE TABLE runs (
    run_id          VARCHAR(32)  NOT NULL PRIMARY KEY,
    financial_company VARCHAR(32) NOT NULL,
    mode            VARCHAR(8)   NOT NULL,   -- draft | final
    status          VARCHAR(16)  NOT NULL,   -- pending | delivered | discarded
    invoice_date    VARCHAR(10)  NOT NULL,
    parameters      TEXT         NOT NULL,   -- JSON: source, config, outbox, dates, language
    workbook        VARCHAR(255),
    sha256          VARCHAR(64),
    staged_path     TEXT,
    created_at      VARCHAR(32)  NOT NULL,
    delivered_at    VARCHAR(32)
);

CREATE TABLE invoices (
    financial_company VARCHAR(32) NOT NULL,
    invoice_number  VARCHAR(64)  NOT NULL,
    document_type   VARCHAR(16)  NOT NULL,   -- invoice | credit_note
    linked_invoice_number VARCHAR(64),
    run_id          VARCHAR(32)  NOT NULL REFERENCES runs(run_id),
    invoice_date    VARCHAR(10)  NOT NULL,
    currency        VARCHAR(3)   NOT NULL,
    invoice_amount  BIGINT       NOT NULL,   -- minor units
    status          VARCHAR(16)  NOT NULL,   -- open | credited
    data            TEXT         NOT NULL,   -- JSON: the invoice, its lines and taxes as delivered
    PRIMARY KEY (financial_company, invoice_number)
);

CREATE TABLE billed_orders (
    financial_company VARCHAR(32) NOT NULL,
    booking_number  VARCHAR(64)  NOT NULL,
    invoice_number  VARCHAR(64)  NOT NULL,
    content_hash    VARCHAR(64)  NOT NULL,
    charge_type     VARCHAR(16)  NOT NULL,
    amount          BIGINT       NOT NULL,   -- minor units billed
    currency        VARCHAR(3)   NOT NULL,
    active          INTEGER      NOT NULL,   -- 1 while its invoice stands, 0 once credited
    booking_row     TEXT         NOT NULL,   -- JSON: the canonical booking order as billed
    run_id          VARCHAR(32)  NOT NULL REFERENCES runs(run_id),
    PRIMARY KEY (financial_company, booking_number, invoice_number)
);

CREATE TABLE number_series (
    financial_company VARCHAR(32) NOT NULL,
    prefix          VARCHAR(16)  NOT NULL,
    year            INTEGER      NOT NULL,
    last_number     BIGINT       NOT NULL,
    PRIMARY KEY (financial_company, prefix, year)
);

CREATE TABLE deliveries (
    file_name       VARCHAR(255) NOT NULL PRIMARY KEY,
    sha256          VARCHAR(64)  NOT NULL,
    run_id          VARCHAR(32)  NOT NULL REFERENCES runs(run_id),
    delivered_at    VARCHAR(32)  NOT NULL
);

CREATE INDEX billed_orders_active ON billed_orders (financial_company, active);
