"""The configuration side: the converter that structures distributor configurations
(``converter``), configuration files (``files``), ``siren apply`` (``apply``), the recipes
that ship with siren-core (``recipes``) and ``siren simulate`` (``simulate``)."""
