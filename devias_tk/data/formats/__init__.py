"""Converters from published dataset layouts to the toolkit's list format (one module per format).

Each module parses its format with pure functions (text in, records out, malformed lines reported
as file:line) and has one `convert(...)` that looks at the disk (which videos are there) and returns
a `common.Conversion`; `common.write_conversion` writes it. `devias-tk data lists <format>` is the CLI.
"""
