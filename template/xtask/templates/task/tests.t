---
to: tests/api/{{ group }}_tasks.rs
if_exists: skip
injections:
  - into: tests/api/main.rs
    among: "mod "
    content: "mod {{ group }}_tasks;"
---
//! The tasks of `{{ group }}`, run in-process as in every test (`cargo xtask new task`
//! started this file).
