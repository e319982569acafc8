"""OAuth 2.0 protocol logic, one module per specification: pure, no HTTP framework, no SQL."""
