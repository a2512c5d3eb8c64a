"""Content loading, one module per stage (content/FORMAT.md):

- `yaml_reader`: reading a file as YAML, reporting duplicate keys and non-string keys by line;
- `errors`: the ContentError type and locating a problem (JSON path -> node id, readable place);
- `schema`: the versioned JSON Schema and its errors rewritten for authors;
- `checks`: checks beyond the schema on one decision (scoring, notes, fault tags, level ids) and on
  level.yaml;
- `graph`: links, reachability, cycles and dead ends of a case's nodes;
- `typography`: the French punctuation-spacing rule, applied to every French text;
- `build`: the frozen model.py objects built from checked documents.

`lti_tool.cases.loader` chains them and is the public API and command line.
"""
