"""Address normalisation and fingerprints: the pure half of the plugin.

Nothing here touches the host, so `python3 -m unittest` runs it natively (see
`test_dedupe.py`); `app.py` wires it to the WIT world.

A fingerprint identifies "the same person at the same place" whatever the spelling: the
configured match fields are normalised (case, accents, `Straße`/`Str.`, phone prefixes,
e-mail sub-addresses), joined and hashed.
"""

import hashlib
import re
import unicodedata

#: The fields a fingerprint can be built from, in the order they are hashed.
FIELDS = ("name", "email", "phone", "street")

#: Payload keys per field: onOffice's address module first, then plain English names.
_KEYS = {
    "first_name": ("Vorname", "vorname", "firstName", "first_name"),
    "last_name": ("Name", "Nachname", "name", "lastName", "last_name"),
    "email": ("Email", "email", "E-Mail", "emailAddress"),
    "phone": ("Telefon1", "Telefon", "phone", "telephone", "mobile", "Mobil"),
    "street": ("Strasse", "Straße", "street", "streetAddress"),
    "house_number": ("Hausnummer", "houseNumber", "house_number"),
    "zip": ("Plz", "PLZ", "plz", "zip", "postalCode"),
}

#: Record id keys in a payload, for calls that carry no record id (Ivanti bodies).
RECORD_ID_KEYS = ("id", "Id", "recordId", "RecId", "KdNr")


def _first(payload, keys):
    for key in keys:
        value = payload.get(key)
        if value is None:
            continue
        text = str(value).strip()
        if text:
            return text
    return ""


def _fold(text):
    """Lower case, `ß` as `ss`, accents dropped, punctuation as spaces, spaces collapsed."""
    text = text.casefold().replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.split())


def normalize_name(first, last):
    """`"Müller-Lüdenscheidt, Dr. Erika"` and `"erika mueller ludenscheidt"` are not the same,
    but `"Erika"`/`"Müller"` and `" ERIKA "`/`"Muller"` are: accents and case do not count."""
    academic = {"dr", "prof", "dipl", "ing"}
    words = [w for w in _fold(f"{first} {last}").split() if w not in academic]
    return " ".join(words)


def normalize_email(email):
    """Lower case, without a `+tag` sub-address (`erika+news@x.de` is `erika@x.de`)."""
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain:
        return ""
    return f"{local.split('+', 1)[0]}@{domain}"


def normalize_phone(phone, country_code="49"):
    """Digits in international form: `0241 / 123-45`, `+49 241 12345` and `0049241 12345`
    are all `+4924112345`. Fewer than six digits is not a phone number."""
    phone = phone.strip()
    digits = re.sub(r"\D", "", phone)
    if phone.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = country_code + digits[1:]
    if len(digits) < 6:
        return ""
    return "+" + digits


def normalize_street(street, house_number="", zip_code=""):
    """`Theaterstraße 12a, 52062` and `theaterstr. 12 A` (in 52062) are the same place."""
    text = _fold(f"{street} {house_number}")
    text = re.sub(r"(strasse|str)\b", "str", text)
    text = text.replace(" ", "")
    if not text:
        return ""
    return f"{zip_code.strip()}|{text}" if zip_code.strip() else text


def normalize(payload, country_code="49"):
    """The normalised identifying fields of an address payload (empty when absent)."""
    return {
        "name": normalize_name(
            _first(payload, _KEYS["first_name"]), _first(payload, _KEYS["last_name"])
        ),
        "email": normalize_email(_first(payload, _KEYS["email"])),
        "phone": normalize_phone(_first(payload, _KEYS["phone"]), country_code),
        "street": normalize_street(
            _first(payload, _KEYS["street"]),
            _first(payload, _KEYS["house_number"]),
            _first(payload, _KEYS["zip"]),
        ),
    }


def parse_match_fields(text):
    """`"name, email"` as a tuple of known fields, in canonical order; unknown names raise."""
    wanted = {f.strip().lower() for f in text.split(",") if f.strip()}
    unknown = wanted.difference(FIELDS)
    if unknown:
        raise ValueError(
            f"unknown match field(s) {', '.join(sorted(unknown))} (known: {', '.join(FIELDS)})"
        )
    return tuple(f for f in FIELDS if f in wanted)


def fingerprint(normalized, match_fields):
    """(fingerprint, the fields it was built from); `(None, ())` when none is present."""
    used = tuple(f for f in match_fields if normalized.get(f))
    if not used:
        return None, ()
    text = "\n".join(f"{f}={normalized[f]}" for f in used)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32], used


def record_id(invocation_record_id, payload):
    """The invocation's record id, else one from the payload, else `""`."""
    if invocation_record_id:
        return invocation_record_id
    return _first(payload, RECORD_ID_KEYS)
