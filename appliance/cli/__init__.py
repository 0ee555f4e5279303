"""The operator command line: ``appliance [--data-dir DIR] [--config FILE] COMMAND``."""
