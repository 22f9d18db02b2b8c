"""FOCUS 1.2 column constraints, as the specification's column pages state them.

Transcribed from the FOCUS 1.2 release (specification/columns/*.md, "Content constraints":
feature level, data type, allows nulls). Used by tests/test_costs_focus.py to check the export.
"""

# column: (feature level, data type, allows nulls)
FOCUS_1_2 = {
    "BilledCost": ("Mandatory", "Decimal", False),
    "BillingAccountId": ("Mandatory", "String", False),
    "BillingAccountName": ("Mandatory", "String", True),
    "BillingCurrency": ("Mandatory", "String", False),
    "BillingPeriodEnd": ("Mandatory", "Date/Time", False),
    "BillingPeriodStart": ("Mandatory", "Date/Time", False),
    "ChargeCategory": ("Mandatory", "String", False),
    "ChargeClass": ("Mandatory", "String", True),
    "ChargeDescription": ("Mandatory", "String", True),
    "ChargePeriodEnd": ("Mandatory", "Date/Time", False),
    "ChargePeriodStart": ("Mandatory", "Date/Time", False),
    "ContractedCost": ("Mandatory", "Decimal", False),
    "EffectiveCost": ("Mandatory", "Decimal", False),
    "InvoiceIssuerName": ("Mandatory", "String", False),
    "ListCost": ("Mandatory", "Decimal", False),
    "PricingQuantity": ("Mandatory", "Decimal", True),
    "PricingUnit": ("Mandatory", "String", True),
    "ProviderName": ("Mandatory", "String", False),
    "PublisherName": ("Mandatory", "String", False),
    "ServiceCategory": ("Mandatory", "String", False),
    "ServiceName": ("Mandatory", "String", False),
    "AvailabilityZone": ("Recommended", "String", True),
    "ChargeFrequency": ("Recommended", "String", False),
    "InvoiceId": ("Recommended", "String", True),
    "ServiceSubcategory": ("Recommended", "String", False),
    "BillingAccountType": ("Conditional", "String", False),
    "ConsumedQuantity": ("Conditional", "Decimal", True),
    "ConsumedUnit": ("Conditional", "String", True),
    "ResourceId": ("Conditional", "String", True),
    "ResourceName": ("Conditional", "String", True),
    "ResourceType": ("Conditional", "String", True),
    "SkuId": ("Conditional", "String", True),
    "SubAccountId": ("Conditional", "String", True),
    "SubAccountName": ("Conditional", "String", True),
    "SubAccountType": ("Conditional", "String", True),
    "Tags": ("Conditional", "JSON", True),
}

# Allowed values the export uses (from the same pages).
CHARGE_CATEGORIES = {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
CHARGE_FREQUENCIES = {"One-Time", "Recurring", "Usage-Based"}
SERVICE_CATEGORIES_AI = "AI and Machine Learning"
AI_SUBCATEGORIES = {
    "AI Platforms",
    "Bots",
    "Generative AI",
    "Machine Learning",
    "Natural Language Processing",
    "Other (AI and Machine Learning)",
}
# Date/Time: UTC, extended ISO 8601 with the Z indicator.
DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
