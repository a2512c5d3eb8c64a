"""Case content: schema, loader and graph checks (loader.py), typed model (model.py), upgrades (upgrade.py).

See content/FORMAT.md for the format.
"""
