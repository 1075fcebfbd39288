from timbrel.cli import app

app(prog_name="timbrel")
