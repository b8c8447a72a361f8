-- OpenOlat tables read by billing-export (postgresql); generated from sample_data/openolat_schema/tables.py

CREATE TABLE o_ac_billing_address (
	id BIGINT NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	lastmodified TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	a_identifier VARCHAR(255), 
	a_name_line_1 VARCHAR(255), 
	a_name_line_2 VARCHAR(255), 
	a_address_line_1 VARCHAR(255), 
	a_address_line_2 VARCHAR(255), 
	a_address_line_3 VARCHAR(255), 
	a_address_line_4 VARCHAR(255), 
	a_pobox VARCHAR(255), 
	a_region VARCHAR(255), 
	a_zip VARCHAR(255), 
	a_city VARCHAR(255), 
	a_country VARCHAR(255), 
	a_enabled BOOLEAN NOT NULL, 
	fk_organisation BIGINT, 
	fk_identity BIGINT, 
	PRIMARY KEY (id)
);

CREATE TABLE o_ac_cost_center (
	id BIGINT NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	lastmodified TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	a_name VARCHAR(255), 
	a_account VARCHAR(255), 
	a_enabled BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE o_ac_method (
	method_id BIGINT NOT NULL, 
	access_method VARCHAR(32), 
	version INTEGER NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE, 
	lastmodified TIMESTAMP WITHOUT TIME ZONE, 
	is_valid BOOLEAN, 
	is_enabled BOOLEAN, 
	validfrom TIMESTAMP WITHOUT TIME ZONE, 
	validto TIMESTAMP WITHOUT TIME ZONE, 
	PRIMARY KEY (method_id)
);

CREATE TABLE o_ac_offer (
	offer_id BIGINT NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE, 
	lastmodified TIMESTAMP WITHOUT TIME ZONE, 
	is_valid BOOLEAN, 
	validfrom TIMESTAMP WITHOUT TIME ZONE, 
	validto TIMESTAMP WITHOUT TIME ZONE, 
	version INTEGER NOT NULL, 
	resourceid BIGINT, 
	resourcetypename VARCHAR(255), 
	resourcedisplayname VARCHAR(255), 
	offer_label VARCHAR(128), 
	price_amount NUMERIC, 
	price_currency_code VARCHAR(3), 
	cancelling_fee_amount NUMERIC, 
	cancelling_fee_currency_code VARCHAR(3), 
	cancelling_fee_deadline_days INTEGER, 
	fk_resource_id BIGINT, 
	fk_cost_center BIGINT, 
	PRIMARY KEY (offer_id)
);

CREATE TABLE o_ac_offer_access (
	offer_method_id BIGINT NOT NULL, 
	version INTEGER NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE, 
	is_valid BOOLEAN, 
	validfrom TIMESTAMP WITHOUT TIME ZONE, 
	validto TIMESTAMP WITHOUT TIME ZONE, 
	fk_offer_id BIGINT, 
	fk_method_id BIGINT, 
	PRIMARY KEY (offer_method_id)
);

CREATE TABLE o_ac_order (
	order_id BIGINT NOT NULL, 
	version INTEGER NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE, 
	lastmodified TIMESTAMP WITHOUT TIME ZONE, 
	is_valid BOOLEAN, 
	total_lines_amount NUMERIC, 
	total_lines_currency_code VARCHAR(3), 
	total_amount NUMERIC, 
	total_currency_code VARCHAR(3), 
	discount_amount NUMERIC, 
	discount_currency_code VARCHAR(3), 
	order_status VARCHAR(32) DEFAULT 'NEW', 
	fk_delivery_id BIGINT, 
	purchase_order_number VARCHAR(100), 
	order_comment TEXT, 
	fk_billing_address BIGINT, 
	cancellation_fee_amount NUMERIC, 
	cancellation_fee_currency_code VARCHAR(3), 
	cancellation_fee_lines_amount NUMERIC, 
	cancellation_fee_lines_currency_code VARCHAR(3), 
	PRIMARY KEY (order_id)
);

CREATE TABLE o_ac_order_line (
	order_item_id BIGINT NOT NULL, 
	version INTEGER NOT NULL, 
	pos INTEGER, 
	creationdate TIMESTAMP WITHOUT TIME ZONE, 
	unit_price_amount NUMERIC, 
	unit_price_currency_code VARCHAR(3), 
	total_amount NUMERIC, 
	total_currency_code VARCHAR(3), 
	fk_order_part_id BIGINT, 
	fk_offer_id BIGINT, 
	cancellation_fee_amount NUMERIC, 
	cancellation_currency_code VARCHAR(3), 
	PRIMARY KEY (order_item_id)
);

CREATE TABLE o_ac_order_part (
	order_part_id BIGINT NOT NULL, 
	version INTEGER NOT NULL, 
	pos INTEGER, 
	creationdate TIMESTAMP WITHOUT TIME ZONE, 
	total_lines_amount NUMERIC, 
	total_lines_currency_code VARCHAR(3), 
	total_amount NUMERIC, 
	total_currency_code VARCHAR(3), 
	fk_order_id BIGINT, 
	PRIMARY KEY (order_part_id)
);

CREATE TABLE o_ac_transaction (
	transaction_id BIGINT NOT NULL, 
	version INTEGER NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE, 
	trx_status VARCHAR(32) DEFAULT 'NEW', 
	amount_amount NUMERIC, 
	amount_currency_code VARCHAR(3), 
	fk_order_part_id BIGINT, 
	fk_order_id BIGINT, 
	fk_method_id BIGINT, 
	PRIMARY KEY (transaction_id)
);

CREATE TABLE o_bs_identity (
	id BIGINT NOT NULL, 
	version INTEGER NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE, 
	lastlogin TIMESTAMP WITHOUT TIME ZONE, 
	name VARCHAR(128) NOT NULL, 
	external_id VARCHAR(64), 
	status INTEGER, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);

CREATE TABLE o_cur_curriculum (
	id BIGINT NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	lastmodified TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	c_identifier VARCHAR(64), 
	c_displayname VARCHAR(256) NOT NULL, 
	c_status VARCHAR(32), 
	fk_group BIGINT NOT NULL, 
	fk_organisation BIGINT, 
	PRIMARY KEY (id)
);

CREATE TABLE o_cur_curriculum_element (
	id BIGINT NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	lastmodified TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	c_identifier VARCHAR(64), 
	c_displayname VARCHAR(256) NOT NULL, 
	c_status VARCHAR(32), 
	c_begin TIMESTAMP WITHOUT TIME ZONE, 
	c_end TIMESTAMP WITHOUT TIME ZONE, 
	c_location VARCHAR(255), 
	fk_group BIGINT NOT NULL, 
	fk_parent BIGINT, 
	fk_curriculum BIGINT NOT NULL, 
	fk_type BIGINT, 
	fk_resource BIGINT, 
	fk_educational_type BIGINT, 
	PRIMARY KEY (id)
);

CREATE TABLE o_cur_element_type (
	id BIGINT NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	lastmodified TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	c_identifier VARCHAR(64), 
	c_displayname VARCHAR(256) NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE o_olatresource (
	resource_id BIGINT NOT NULL, 
	version INTEGER NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE, 
	resname VARCHAR(50) NOT NULL, 
	resid BIGINT NOT NULL, 
	PRIMARY KEY (resource_id)
);

CREATE TABLE o_org_organisation (
	id BIGINT NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	lastmodified TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	o_identifier VARCHAR(64), 
	o_displayname VARCHAR(255) NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE o_re_educational_type (
	id BIGINT NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	lastmodified TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	r_identifier VARCHAR(128) NOT NULL, 
	r_predefined BOOLEAN NOT NULL, 
	r_css_class VARCHAR(128), 
	PRIMARY KEY (id)
);

CREATE TABLE o_user (
	user_id BIGINT NOT NULL, 
	version INTEGER NOT NULL, 
	creationdate TIMESTAMP WITHOUT TIME ZONE, 
	u_firstname VARCHAR(255), 
	u_lastname VARCHAR(255), 
	u_email VARCHAR(255), 
	u_nickname VARCHAR(255), 
	u_institutionaluseridentifier VARCHAR(255), 
	fk_identity BIGINT, 
	PRIMARY KEY (user_id)
);
