"""Unit tests of the normalisation, natively: `python3 -m unittest` in this folder."""

import unittest

import dedupe


class Normalize(unittest.TestCase):
    def test_names_ignore_case_accents_and_titles(self):
        self.assertEqual(dedupe.normalize_name("Erika", "Müller"), "erika muller")
        self.assertEqual(dedupe.normalize_name(" ERIKA ", "Muller"), "erika muller")
        self.assertEqual(dedupe.normalize_name("Dr. Erika", "Groß"), "erika gross")

    def test_emails_drop_sub_addresses(self):
        self.assertEqual(dedupe.normalize_email(" Erika+News@Example.COM "), "erika@example.com")
        self.assertEqual(dedupe.normalize_email("not an address"), "")

    def test_phones_are_international(self):
        for text in ("0241 / 123 45", "+49 241 12345", "0049-241-12345"):
            self.assertEqual(dedupe.normalize_phone(text), "+4924112345", text)
        self.assertEqual(dedupe.normalize_phone("01 22 33 44 55", "33"), "+33122334455")
        self.assertEqual(dedupe.normalize_phone("112"), "")

    def test_streets_ignore_the_spelling_of_strasse(self):
        a = dedupe.normalize_street("Theaterstraße", "12a", "52062")
        b = dedupe.normalize_street("theaterstr.", "12 A", "52062")
        self.assertEqual(a, b)
        self.assertEqual(a, "52062|theaterstr12a")


class Fingerprint(unittest.TestCase):
    def test_same_person_same_fingerprint(self):
        a = dedupe.normalize({"Vorname": "Erika", "Name": "Müller", "Email": "e@x.de"})
        b = dedupe.normalize({"firstName": "erika", "lastName": "MULLER", "email": "E@X.DE"})
        self.assertEqual(
            dedupe.fingerprint(a, dedupe.FIELDS), dedupe.fingerprint(b, dedupe.FIELDS)
        )

    def test_only_present_match_fields_count(self):
        n = dedupe.normalize({"Email": "e@x.de", "Telefon1": "0241 12345"})
        fp, used = dedupe.fingerprint(n, ("name", "email"))
        self.assertEqual(used, ("email",))
        self.assertEqual(len(fp), 32)
        self.assertEqual(dedupe.fingerprint(n, ("street",)), (None, ()))

    def test_match_fields_are_checked(self):
        self.assertEqual(dedupe.parse_match_fields(" email , name"), ("name", "email"))
        with self.assertRaises(ValueError):
            dedupe.parse_match_fields("name,shoe_size")


if __name__ == "__main__":
    unittest.main()
