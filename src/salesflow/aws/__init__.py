"""Code that runs inside AWS (Lambda handlers). Nothing in salesflow imports it."""
