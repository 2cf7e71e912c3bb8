"""`python -m pi_service` is the same as `treadmill-companion`."""

from pi_service.cli import main

if __name__ == "__main__":
    main()
