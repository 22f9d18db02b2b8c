# English dates without the month/day ambiguity of the US short format: "2 Dec 2026 07:47".
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y H:i"
