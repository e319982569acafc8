"""HTTP routes of the authorization server: thin translations to the protocol modules."""
