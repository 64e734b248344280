"""Every package's tables (composition root): importing them is what makes
``Base.metadata`` know all tables, for migrations, tests and code that reads
the whole schema (customer merge finds every foreign key to a customer).

The core (``ctidesk.db``) imports no domain package; this module is where
they are all named, like ``ctidesk.app`` and ``ctidesk.runtime``.
"""
from __future__ import annotations


def import_all_models() -> None:
    import accounts.models  # noqa: F401
    import customers.models  # noqa: F401
    import tickets.models  # noqa: F401
    import cti.models  # noqa: F401
    import recordings.models  # noqa: F401
    import ivr.models  # noqa: F401
    import supervisor.models  # noqa: F401
    import knowledge.models  # noqa: F401
    import basedata.models  # noqa: F401
    import catalog.models  # noqa: F401
