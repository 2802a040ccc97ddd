"""The Textual console: `console.ui.app.MailConsoleApp` is the entry point (see its docstring)."""
