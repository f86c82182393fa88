"""POST /batch/update: many changes of the floor in one all-or-nothing transaction."""
