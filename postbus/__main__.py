from postbus.cli import app

app(prog_name="postbus")
