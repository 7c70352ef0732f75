---
to: src/tasks/{{ group }}.rs
if_exists: skip
injections:
  - into: src/tasks/mod.rs
    among: "pub mod "
    content: "pub mod {{ group }};"
---
//! Tasks of `{{ group }}` (`cargo xtask new task` started this file).
