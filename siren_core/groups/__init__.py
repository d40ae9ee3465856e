"""Collaborator groups: their values, rosters and structures, bindings to distributors and
programs, eligibility scopes, capability checks and the doctor's findings."""
