"""The word index behind ``/crm find``, the type-ahead and the duplicate check
(:mod:`crm.search`), on both databases: what a record is cut into, prefix matching, every
typed word required, best match first, the index following creates, edits, Undo and
imports, and never a record of another workspace."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm import audit, customers, leads, opportunities, search
from crm.errors import ValidationError
from crm.importexport.run import import_csv
from crm.models import SearchTerm
from crm.search import find_records, normal_words, query_words


def names(found: list[search.Found]) -> list[str]:
    return [f"{f.kind}:{f.record.name}" for f in found]


def test_words_are_normalised_and_phones_typed_with_spaces_are_one_word() -> None:
    assert normal_words("Zoë O'Brien-Smith") == ["zoe", "o", "brien", "smith"]
    assert normal_words("ÅNGSTRÖM & Co.") == ["angstrom", "co"]
    assert query_words("+260 97 123") == ["26097123"]
    assert query_words("(097) 123-4") == ["0971234"]
    assert query_words("Jane jane ACME") == ["jane", "acme"]
    assert query_words("12") == ["12"]  # short digit runs are words like any other


def test_find_by_partial_name_email_phone_and_company_across_kinds(acme, globex) -> None:
    admin = acme.actor()
    leads.create_lead(
        admin, name="Jane Doe", email="jane.doe@initech.io", phone="0971234567",
        company_name="Initech Ltd",
    )  # fmt: skip
    cust = customers.create_customer(
        admin, name="Janet Smith", email="janet@umbrella.com", company_name="Umbrella Corp",
        phone="+260 96 5550000",
    )  # fmt: skip
    deal = opportunities.create_opportunity(
        admin, name="Initech renewal", customer_id=cust.id, amount=Decimal(1000)
    )
    leads.create_lead(globex.actor(), name="Jane Globex", email="jane@initech.io")

    assert names(find_records(admin, "jan")) == ["customer:Janet Smith", "lead:Jane Doe"]
    assert names(find_records(admin, "jane")) == ["lead:Jane Doe", "customer:Janet Smith"]
    assert names(find_records(admin, "doe@initech")) == ["lead:Jane Doe"]
    assert names(find_records(admin, "janet@umbrella.com")) == ["customer:Janet Smith"]
    for typed in ("0971234", "971234567", "+260 97 123", "260971"):
        assert names(find_records(admin, typed)) == ["lead:Jane Doe"], typed
    assert names(find_records(admin, "555")) == []  # digits match from the start
    assert names(find_records(admin, "96555")) == ["customer:Janet Smith"]
    # a name word outranks a company word: the deal named Initech, then the lead there
    assert names(find_records(admin, "initech")) == ["opportunity:Initech renewal", "lead:Jane Doe"]
    assert names(find_records(admin, "jane initech")) == ["lead:Jane Doe"]  # every word
    assert names(find_records(admin, "umbrella")) == ["customer:Janet Smith"]
    assert names(find_records(admin, "jan", kinds=("customer",))) == ["customer:Janet Smith"]
    assert find_records(admin, "renewal")[0].record.id == deal.id
    # never across workspaces
    assert names(find_records(globex.actor(), "jane")) == ["lead:Jane Globex"]
    assert names(find_records(admin, "globex")) == []
    # paged, newest first among equals
    for n in range(5):
        leads.create_lead(admin, name=f"Pager {n}", allow_duplicate=True)
    first = names(find_records(admin, "pager", limit=3))
    rest = names(find_records(admin, "pager", limit=3, offset=3))
    assert first == ["lead:Pager 4", "lead:Pager 3", "lead:Pager 2"]
    assert rest == ["lead:Pager 1", "lead:Pager 0"]
    with pytest.raises(ValidationError, match="words"):
        find_records(admin, " ,; ")


def test_the_index_follows_edits_undo_conversion_and_imports(acme, tmp_path) -> None:
    admin = acme.actor()
    lead = leads.create_lead(admin, name="Wanda Maximoff", company_name="Westview")
    changed = leads.update_lead(admin, lead.id, name="Wanda Vision")
    assert names(find_records(admin, "vision")) == ["lead:Wanda Vision"]
    assert names(find_records(admin, "maximoff")) == []
    audit.revert(admin, changed.change_id)
    assert names(find_records(admin, "maximoff")) == ["lead:Wanda Maximoff"]
    customer = leads.convert_lead(admin, lead.id)
    assert {f.kind for f in find_records(admin, "westview")} == {"lead", "customer"}
    audit.revert(admin, customer.change_id)  # the customer is gone again, and its words
    assert names(find_records(admin, "westview")) == ["lead:Wanda Maximoff"]
    created = leads.create_lead(admin, name="Pietro Maximoff")
    audit.revert(admin, created.change_id)
    assert names(find_records(admin, "pietro")) == []
    csv = tmp_path / "leads.csv"
    csv.write_text("name,email,company_name\nVision Two,v2@sword.gov,S.W.O.R.D.\n")
    import_csv(admin, "leads", csv)
    assert names(find_records(admin, "v2@sword")) == ["lead:Vision Two"]
    # a rebuild gives the same words as the running index
    before = sorted(SearchTerm.select(SearchTerm.kind, SearchTerm.record_id, SearchTerm.term,
                                      SearchTerm.weight).tuples())  # fmt: skip
    assert search.reindex_company(acme.company.id) == 2  # Wanda and Vision Two
    after = sorted(SearchTerm.select(SearchTerm.kind, SearchTerm.record_id, SearchTerm.term,
                                     SearchTerm.weight).tuples())  # fmt: skip
    assert after == before
