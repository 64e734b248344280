"""Base data edited in the browser (issue 14): SLA levels, the business
calendar, pause reasons and the IVR menu as versioned documents, checked with
the same rules as their TOML files and swapped live in this process."""
