"""A class: its members and rules, the prediction challenge, the class's drawings."""
