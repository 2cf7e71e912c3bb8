"""`python -m pi_service` is the same as `treadmill-companion`."""

try:
    from pi_service.cli import main
except KeyboardInterrupt:  # Ctrl-C while the interpreter was still importing
    raise SystemExit(130) from None

if __name__ == "__main__":
    main()
