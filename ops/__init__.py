"""Operations: database backup and restore commands, and the account-security log."""
