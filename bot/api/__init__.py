"""The control surface: the REST API with its web dashboard, and Telegram commands, beside the
running daemon (`serve.control_services`)."""
