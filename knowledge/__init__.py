"""Knowledge base (issue 14): articles, their versions, full-text search, pop suggestions."""
