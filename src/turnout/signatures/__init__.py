"""Signed decisions: canonical statements and SSH signatures over them (`ssh-keygen -Y`)."""
