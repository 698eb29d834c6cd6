//! helmfile's Go-template dialect, rendered on minijinja.
