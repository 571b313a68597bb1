"""Demo data for `postbus serve --demo`: a handful of realistic messages for the demo account."""

from postbus.demo.messages import DemoMessage, demo_messages

__all__ = ["DemoMessage", "demo_messages"]
