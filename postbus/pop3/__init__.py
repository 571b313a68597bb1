"""POP3 (RFC 1939, 2449, 2595, 5034): ``proto`` is the sans-IO wire format, ``session`` the
command behaviour, ``maildrop`` the INBOX snapshot and its commit, ``server`` the asyncio glue
that registers protocol "pop3" with ``postbus.server`` when imported."""
