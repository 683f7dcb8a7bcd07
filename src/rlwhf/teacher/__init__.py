"""The teacher: an OpenAI-compatible grader on the honesty rubric, below both `reward` and `evaluate`.

- `prompt`: the versioned rubric prompt (configs/prompts/honesty_rubric_v*.md) and strict reply parsing;
- `client`: `OnlineTeacher`, bounded concurrency, retries with back-off, Retry-After, key scrubbing;
- `cache`: the SQLite grade cache shared by every process that grades;
- `search`: BM25 over a local passage corpus (search context without the internet);
- `base`: `GradeRequest` / `GradeResult`, what every teacher speaks.

Stdlib only: no torch, no reward or evaluate imports.
"""
