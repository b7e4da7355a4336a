"""Roundtable's actors: Supervisor, Agents, Persistence, Broadcaster, and their wiring."""
