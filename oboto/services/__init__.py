"""Services: the only owners of workspace state; they publish events and never import Textual."""
