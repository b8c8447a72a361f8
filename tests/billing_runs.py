"""Runs of the pipeline as the tests ask for them: a source with the parameters of a run
(``stages.default_params``), or a credit on demand — each a :class:`flows.pipeline.Request`
through :func:`flows.pipeline.run`, the path every production entry point takes."""

from __future__ import annotations

from pathlib import Path

from flows import pipeline


def request(source, config, params, outbox, store, **more) -> pipeline.Request:
    return pipeline.Request(source=str(source), config=config, outbox=Path(outbox),
                            invoice_date=params.invoice_date, cutoff_date=params.cutoff_date,
                            language=params.language, draft=params.draft, state=store, **more)


def bill(source, config, params, outbox, store, crash_test=None, **more):
    """Bill ``source`` against ``store``: the company's ``FinalResult``."""
    return pipeline.run(request(source, config, params, outbox, store, **more),
                        crash_test=crash_test).result


def credit(number: str, reinvoice: bool, config, params, outbox, store, crash_test=None):
    """``billing-export credit --invoice number [--reinvoice]``: the ``FinalResult``."""
    return pipeline.run(request(pipeline.defaults.SOURCE, config, params, outbox, store,
                                credit=pipeline.Credit(number, reinvoice)),
                        crash_test=crash_test).result
