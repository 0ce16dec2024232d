"""The API shell shared by every module: errors, pagination, auth, health."""
