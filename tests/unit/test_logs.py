import logging

from ctidesk.logs import RedactSecrets


def test_tokens_and_secrets_are_redacted_from_log_records():
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               '%s - "WebSocket %s" %d', ("127.0.0.1:5", "/ws/agent?token=eyJabc.def&x=1", 101),
                               None)
    assert RedactSecrets().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "WebSocket /ws/agent?token=[redacted]&x=1" 101'
    other = logging.LogRecord("x", logging.INFO, __file__, 1, "login secret=s3cr3t password=hunter2 ok", (), None)
    RedactSecrets().filter(other)
    assert "s3cr3t" not in other.getMessage() and "hunter2" not in other.getMessage()
