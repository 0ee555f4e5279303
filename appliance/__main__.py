"""``python -m appliance`` runs the CLI."""

from appliance.cli.main import main

main()
