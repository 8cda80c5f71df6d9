"""The Textual application. Screens call services; they never build queries."""
