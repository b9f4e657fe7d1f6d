"""What a person sees: the live training dashboard and the plots."""
