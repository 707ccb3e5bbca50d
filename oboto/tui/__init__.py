"""The Textual app: screens, widgets and .tcss files. It talks to the services only."""
