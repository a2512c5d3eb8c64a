"""Case content: the typed model (model.py), the loader with its schema and graph checks
(loader.py, schema/), and the content upgrades (upgrade.py). The format: content/FORMAT.md.
"""
