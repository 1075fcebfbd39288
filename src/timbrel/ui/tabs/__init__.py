"""One module per tab; each has ``build(context)``, called inside its gr.Tab."""
