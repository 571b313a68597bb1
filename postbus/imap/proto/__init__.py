"""The sans-IO half of IMAP: bytes in, commands out; responses written as bytes.

Nothing here touches a socket, the clock or the store (style.md, "sans-IO").
"""
