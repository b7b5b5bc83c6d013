"""Serving HTTP: the error envelope and body reading, the connection guard, the app's
typed state."""
