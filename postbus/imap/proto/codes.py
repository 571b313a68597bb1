"""Response codes (RFC 9051 §7.1, RFC 5530) and the server's fixed texts, in one place."""

from __future__ import annotations

# RFC 9051 §7.1 / RFC 5530 response codes
ALERT = "ALERT"
ALREADYEXISTS = "ALREADYEXISTS"
AUTHENTICATIONFAILED = "AUTHENTICATIONFAILED"
AUTHORIZATIONFAILED = "AUTHORIZATIONFAILED"
BADCHARSET = "BADCHARSET (UTF-8 US-ASCII)"
CANNOT = "CANNOT"
CLIENTBUG = "CLIENTBUG"
CONTACTADMIN = "CONTACTADMIN"
LIMIT = "LIMIT"
NONEXISTENT = "NONEXISTENT"
OVERQUOTA = "OVERQUOTA"
PRIVACYREQUIRED = "PRIVACYREQUIRED"
READ_ONLY = "READ-ONLY"
READ_WRITE = "READ-WRITE"
SERVERBUG = "SERVERBUG"
TOOBIG = "TOOBIG"  # RFC 7889 §4
TRYCREATE = "TRYCREATE"
UNAVAILABLE = "UNAVAILABLE"
CLOSED = "CLOSED"  # RFC 7162 §3.2.11, also in RFC 9051 §7.1
HASCHILDREN = "HASCHILDREN"  # RFC 9051 §7.1: DELETE refused while inferiors exist

# Texts
GREETING = "postbus IMAP ready"
BYE_LOGOUT = "postbus logging out"
BYE_TIMEOUT = "Autologout; idle for too long"
BYE_SHUTDOWN = "Server shutting down"
BYE_TOO_MANY = "Too many connections"
BYE_FATAL = "Protocol error; closing"
LITERAL_READY = "Ready for literal"
IDLING = "idling"
AUTH_FAILED = "Authentication failed"
AUTH_BLOCKED = "Too many failed sign-ins; try again later"
AUTH_DISABLED = "This account is disabled"
PLAINTEXT_REFUSED = "Sign in only after STARTTLS"
SERVER_BUG = "Internal server error; the problem has been logged"
NOT_IN_STATE = "Command not allowed now"
UNKNOWN_COMMAND = "Unknown command"
NO_SUCH_MAILBOX = "No such mailbox"
TARGET_MISSING = "Target mailbox does not exist"
READ_ONLY_MAILBOX = "Mailbox is read-only"
COMPLETED = "completed"

# Second increment: response codes of the extensions
UIDREQUIRED = "UIDREQUIRED"  # RFC 9586 §3
COMPRESSIONACTIVE = "COMPRESSIONACTIVE"  # RFC 4978 §3
NOPERM = "NOPERM"  # RFC 5530 §3
METADATA_TOOMANY = "METADATA TOOMANY"  # RFC 5464 §4.3
METADATA_NOPRIVATE = "METADATA NOPRIVATE"  # RFC 5464 §4.3
UIDREQUIRED_TEXT = "Message sequence numbers are off: UIDONLY is enabled"
COMPRESS_ACTIVE_TEXT = "DEFLATE is active already"
QUOTA_SET_REFUSED = "Quotas are set by the administrator"
NO_QUOTA_ROOT = "No such quota root"
