"""The clinic's lead workflow: notes, assignment, bulk actions, the CSV export and a saved
default filter. Masked (held) leads are never worked; another clinic's leads are never seen."""

import csv
import io
from datetime import date

import pytest
from django.core.cache import cache
from django.db import IntegrityError, transaction

from billing.models import CreditTransaction
from leads import services
from leads.models import InboxDefault, Lead, LeadNote
from tests.factories import ClinicFactory, ClinicMemberFactory, LeadFactory, UserFactory, fund

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


@pytest.fixture
def me(clinic):
    return ClinicMemberFactory(clinic=clinic, user=UserFactory(username="priya"))


@pytest.fixture
def colleague(clinic):
    return ClinicMemberFactory(clinic=clinic, user=UserFactory(username="ravi"))


@pytest.fixture
def outsider():
    return ClinicMemberFactory(clinic=ClinicFactory(), user=UserFactory(username="mallory"))


@pytest.fixture
def logged_in(client, me):
    client.force_login(me.user)
    return client


def charged(clinic, name="Asha Patel", phone="9000000001"):
    fund(clinic, 100)
    lead = services.submit_enquiry(clinic=clinic, name=name, phone=phone)
    assert lead.billing_state == "charged"
    return lead


def held(clinic, name="Hidden Person", phone="9000000099"):
    return LeadFactory(clinic=clinic, patient_name=name, phone=f"+91{phone}")


def inbox_ids(client, query=""):
    page = client.get(f"/clinic/leads{query}")
    assert page.status_code == 200
    return [int(lead.pk) for lead, _ in page.context["rows"]]


# Notes ----------------------------------------------------------------------------------------


def test_a_note_is_kept_with_its_author_and_time_and_shown_to_the_team(logged_in, clinic, me):
    lead = charged(clinic)
    response = logged_in.post(f"/clinic/leads/{lead.pk}/notes", {"body": "  Called, no answer "})
    assert response.status_code == 302
    note = LeadNote.objects.get(lead=lead)
    assert (note.body, note.author, note.author_name) == ("Called, no answer", me.user, "priya")
    assert note.created_at is not None
    page = logged_in.get(f"/clinic/leads/{lead.pk}")
    assert "Called, no answer" in page.text and "priya" in page.text


def test_a_note_added_by_htmx_answers_with_the_note_list_only(logged_in, clinic):
    lead = charged(clinic)
    response = logged_in.post(
        f"/clinic/leads/{lead.pk}/notes", {"body": "Booked for Monday"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="notes"')
    assert "<html" not in response.text and "Booked for Monday" in response.text


def test_colleagues_see_each_others_notes(client, clinic, colleague):
    lead = charged(clinic)
    services.add_lead_note(lead=lead, author=colleague.user, body="Prefers WhatsApp")
    me = ClinicMemberFactory(clinic=clinic).user
    client.force_login(me)
    assert "Prefers WhatsApp" in client.get(f"/clinic/leads/{lead.pk}").text


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("", "Write something"),
        ("   \n ", "Write something"),
        ("x" * (LeadNote.MAX_LENGTH + 1), "at most"),
        ("before\x00after", "Null characters are not allowed"),
    ],
)
def test_a_bad_note_is_refused_with_a_400_and_nothing_saved(logged_in, clinic, body, why):
    lead = charged(clinic)
    for headers in [{}, {"HTTP_HX_REQUEST": "true"}]:
        response = logged_in.post(f"/clinic/leads/{lead.pk}/notes", {"body": body}, **headers)
        assert response.status_code == 400
        assert why in response.text
    assert not LeadNote.objects.exists()


def test_the_service_refuses_nul_bytes_and_overlong_notes_on_its_own(clinic, me):
    lead = charged(clinic)
    for body, why in [("a\x00b", "NUL"), ("y" * 2001, "at most"), ("  ", "Write something")]:
        with pytest.raises(services.AntidoteError, match=why):
            services.add_lead_note(lead=lead, author=me.user, body=body)
    assert not LeadNote.objects.exists()


def test_a_held_lead_takes_no_note_until_it_is_released(logged_in, clinic):
    lead = held(clinic)
    page = logged_in.get(f"/clinic/leads/{lead.pk}")
    assert "Add note" not in page.text
    response = logged_in.post(f"/clinic/leads/{lead.pk}/notes", {"body": "Call back"})
    assert response.status_code == 400
    assert "Top up to release this lead" in response.text
    assert not LeadNote.objects.exists()


def test_another_clinics_lead_is_404_for_notes_and_its_notes_are_never_shown(
    client, clinic, outsider
):
    lead = charged(clinic)
    services.add_lead_note(lead=lead, author=ClinicMemberFactory(clinic=clinic).user, body="VIP")
    client.force_login(outsider.user)
    assert client.get(f"/clinic/leads/{lead.pk}").status_code == 404
    assert client.post(f"/clinic/leads/{lead.pk}/notes", {"body": "hi"}).status_code == 404
    assert LeadNote.objects.count() == 1


def test_only_members_of_the_leads_clinic_can_write_a_note(clinic, outsider):
    lead = charged(clinic)
    with pytest.raises(services.AntidoteError, match="Only members"):
        services.add_lead_note(lead=lead, author=outsider.user, body="hello")


def test_notes_never_reach_the_patient_pages(client, clinic, me):
    lead = charged(clinic)
    services.add_lead_note(lead=lead, author=me.user, body="Secret team note")
    for url in ["/", "/packages/", f"/clinics/{clinic.slug}/", "/enquiry-sent"]:
        assert "Secret team note" not in client.get(url).text


# Assignment -----------------------------------------------------------------------------------


def test_a_lead_is_assigned_to_a_member_and_unassigned(logged_in, clinic, colleague):
    lead = charged(clinic)
    response = logged_in.post(f"/clinic/leads/{lead.pk}/assign", {"assignee": colleague.pk})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.assigned_to == colleague
    logged_in.post(f"/clinic/leads/{lead.pk}/assign", {"assignee": ""})
    lead.refresh_from_db()
    assert lead.assigned_to is None


def test_assigning_to_someone_of_another_clinic_is_refused_clearly(logged_in, clinic, outsider):
    lead = charged(clinic)
    response = logged_in.post(f"/clinic/leads/{lead.pk}/assign", {"assignee": outsider.pk})
    assert response.status_code == 400
    assert "Choose a member of this clinic" in response.text
    with pytest.raises(services.AntidoteError, match="not a member of this clinic"):
        services.assign_lead(lead=lead, member=outsider)
    lead.refresh_from_db()
    assert lead.assigned_to is None


@pytest.mark.parametrize("assignee", ["x", "-1", "9" * 30, "1\x00", "²"])
def test_assignment_garbage_is_a_400(logged_in, clinic, assignee):
    lead = charged(clinic)
    response = logged_in.post(f"/clinic/leads/{lead.pk}/assign", {"assignee": assignee})
    assert response.status_code == 400


def test_a_held_lead_cannot_be_assigned(logged_in, clinic, colleague):
    lead = held(clinic)
    response = logged_in.post(f"/clinic/leads/{lead.pk}/assign", {"assignee": colleague.pk})
    assert response.status_code == 400
    assert "Top up" in response.text


def test_mine_and_unassigned_filters_combine_with_the_others(logged_in, clinic, me, colleague):
    mine_new = charged(clinic, phone="9000000001")
    mine_booked = charged(clinic, phone="9000000002")
    theirs = charged(clinic, phone="9000000003")
    nobodys = charged(clinic, phone="9000000004")
    services.assign_lead(lead=mine_new, member=me)
    services.assign_lead(
        lead=services.update_lead_status(
            lead=mine_booked, status="booked", booked_for=date(2026, 5, 4)
        ),
        member=me,
    )
    services.assign_lead(lead=theirs, member=colleague)
    assert set(inbox_ids(logged_in, "?assigned=mine")) == {mine_new.pk, mine_booked.pk}
    assert inbox_ids(logged_in, "?assigned=mine&status=new") == [mine_new.pk]
    assert inbox_ids(logged_in, "?assigned=unassigned") == [nobodys.pk]
    assert len(inbox_ids(logged_in, "?assigned=")) == 4


def test_mine_means_my_membership_of_this_clinic_only(client, clinic):
    other = ClinicFactory()
    user = UserFactory(username="both")
    here = ClinicMemberFactory(clinic=clinic, user=user)
    ClinicMemberFactory(clinic=other, user=user)
    lead = charged(clinic)
    services.assign_lead(lead=lead, member=here)
    client.force_login(user)
    client.post("/clinic/switch", {"clinic_id": other.pk})
    assert inbox_ids(client, "?assigned=mine") == []


# Bulk actions ---------------------------------------------------------------------------------


def bulk(client, ids, **data):
    return client.post("/clinic/leads/bulk", {"lead_ids": [str(i) for i in ids], **data})


def test_bulk_status_on_a_mix_of_held_and_charged_leads_reports_each(logged_in, clinic):
    first, second = charged(clinic, phone="9000000001"), charged(clinic, phone="9000000002")
    waiting = held(clinic)
    entries = CreditTransaction.objects.count()
    response = bulk(
        logged_in, [first.pk, waiting.pk, second.pk], action="status", status="contacted"
    )
    assert response.status_code == 200
    results = {r.lead_id: r for r in response.context["results"]}
    assert results[first.pk].done and results[second.pk].done
    assert not results[waiting.pk].done
    assert "Top up to release" in results[waiting.pk].message
    assert "2 of 3 leads changed" in response.text
    statuses = dict(Lead.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "contacted", second.pk: "contacted", waiting.pk: "new"}
    assert CreditTransaction.objects.count() == entries  # nothing here touches money


def test_bulk_refuses_another_clinics_leads_without_touching_them(logged_in, clinic):
    mine = charged(clinic)
    theirs = charged(ClinicFactory(), phone="9000000005")
    response = bulk(logged_in, [mine.pk, theirs.pk, 10**9], action="archive")
    results = {r.lead_id: r for r in response.context["results"]}
    assert results[mine.pk].done
    assert results[theirs.pk].message == results[10**9].message == "Not one of this clinic's leads."
    theirs.refresh_from_db()
    assert not theirs.archived
    assert "Meera" not in response.text


def test_bulk_assign_and_unassign(logged_in, clinic, colleague):
    leads = [charged(clinic, phone=f"900000000{i}") for i in range(3)]
    bulk(logged_in, [lead.pk for lead in leads], action="assign", assignee=colleague.pk)
    assert set(Lead.objects.values_list("assigned_to", flat=True)) == {colleague.pk}
    bulk(logged_in, [leads[0].pk], action="unassign")
    assert Lead.objects.filter(assigned_to__isnull=True).count() == 1


def test_bulk_assign_to_another_clinics_member_is_a_400_and_changes_nothing(
    logged_in, clinic, outsider
):
    lead = charged(clinic)
    response = bulk(logged_in, [lead.pk], action="assign", assignee=outsider.pk)
    assert response.status_code == 400
    assert "Choose a member of this clinic" in response.text
    lead.refresh_from_db()
    assert lead.assigned_to is None


def test_archived_leads_leave_the_default_inbox_and_have_a_filter(logged_in, clinic):
    kept, gone = charged(clinic, phone="9000000001"), charged(clinic, phone="9000000002")
    waiting = held(clinic)
    response = bulk(logged_in, [gone.pk, waiting.pk], action="archive")
    assert [r.done for r in response.context["results"]] == [True, False]
    assert set(inbox_ids(logged_in)) == {kept.pk, waiting.pk}
    assert inbox_ids(logged_in, "?archived=yes") == [gone.pk]
    assert len(inbox_ids(logged_in, "?archived=any")) == 3
    bulk(logged_in, [gone.pk], action="unarchive")
    assert len(inbox_ids(logged_in)) == 3


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"action": "archive"}, "Select at least one lead"),
        ({"lead_ids": ["x"], "action": "archive"}, "whole numbers"),
        ({"lead_ids": ["1\x00"], "action": "archive"}, "whole numbers"),
        ({"lead_ids": ["9" * 5000], "action": "archive"}, "whole numbers"),
        ({"lead_ids": ["-3"], "action": "archive"}, "whole numbers"),
        ({"lead_ids": [str(i) for i in range(1, 102)], "action": "archive"}, "at most 100"),
        ({"lead_ids": ["1"], "action": "delete"}, "Select a valid choice"),
        ({"lead_ids": ["1"]}, "This field is required"),
        ({"lead_ids": ["1"], "action": "status"}, "Choose the status"),
        ({"lead_ids": ["1"], "action": "status", "status": "paid"}, "Select a valid choice"),
        ({"lead_ids": ["1"], "action": "assign"}, "Choose the team member"),
        ({"lead_ids": ["1"], "action": "assign", "assignee": "x"}, "Choose a member"),
    ],
)
def test_bad_bulk_input_is_a_400_with_the_reason_and_nothing_changes(logged_in, clinic, data, why):
    lead = charged(clinic)
    data = {**data, "lead_ids": [str(lead.pk) if i == "1" else i for i in data.get("lead_ids", [])]}
    for headers in [{}, {"HTTP_HX_REQUEST": "true"}]:
        response = logged_in.post("/clinic/leads/bulk", data, **headers)
        assert response.status_code == 400
        assert why in response.text
    lead.refresh_from_db()
    assert (lead.status, lead.archived, lead.assigned_to) == ("new", False, None)


def test_bulk_by_htmx_answers_with_the_results_and_asks_the_table_to_reload(logged_in, clinic):
    lead = charged(clinic)
    response = logged_in.post(
        "/clinic/leads/bulk",
        {"lead_ids": [lead.pk], "action": "archive"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "leadsChanged"
    assert "<html" not in response.text and 'data-testid="bulk-results"' in response.text


def test_bulk_without_javascript_shows_a_results_page_with_a_safe_way_back(logged_in, clinic):
    lead = charged(clinic)
    page = bulk(logged_in, [lead.pk], action="archive", next="/clinic/leads?status=new")
    assert page.status_code == 200
    assert 'href="/clinic/leads?status=new"' in page.text
    page = bulk(logged_in, [lead.pk], action="unarchive", next="//evil.example/")
    assert 'href="/clinic/leads"' in page.text and "evil.example" not in page.text


def test_the_inbox_offers_checkboxes_tied_to_the_bulk_form(logged_in, clinic):
    lead = charged(clinic)
    page = logged_in.get("/clinic/leads")
    assert f'name="lead_ids" value="{lead.pk}" form="bulk-form"' in page.text
    assert 'id="bulk-form"' in page.text


# Export ---------------------------------------------------------------------------------------


def export(client, query=""):
    response = client.get(f"/clinic/leads?format=csv{query}")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_export_is_formula_safe_and_keeps_held_leads_masked(logged_in, clinic):
    charged(clinic, name='=HYPERLINK("http://evil.example","click")', phone="9000000001")
    charged(clinic, name="+cmd|' /C calc'!A0", phone="9000000002")
    held(clinic, name="Secret Patient", phone="9876543210")
    rows = export(logged_in)
    names = {row["patient_name"] for row in rows}
    assert '\'=HYPERLINK("http://evil.example","click")' in names
    assert "'+cmd|' /C calc'!A0" in names
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())
    masked = next(row for row in rows if row["billing"] == "held")
    assert masked["patient_name"] == "S••••"
    text = repr(rows)
    assert "Secret Patient" not in text and "9876543210" not in text


def test_export_uses_the_inbox_filters(logged_in, clinic, me):
    first, second = charged(clinic, phone="9000000001"), charged(clinic, phone="9000000002")
    services.assign_lead(lead=first, member=me)
    services.set_lead_archived(lead=second, archived=True)
    assert [int(r["lead"]) for r in export(logged_in, "&assigned=mine")] == [first.pk]
    assert [int(r["lead"]) for r in export(logged_in)] == [first.pk]
    assert [int(r["lead"]) for r in export(logged_in, "&archived=yes")] == [second.pk]
    assert export(logged_in, "&status=lost") == []


def test_export_holds_only_this_clinics_leads(client, clinic, outsider):
    charged(clinic, name="Asha Patel")
    client.force_login(outsider.user)
    assert export(client) == []


def test_export_needs_a_clinic_login(client, clinic):
    charged(clinic)
    response = client.get("/clinic/leads?format=csv")
    assert response.status_code == 302


# Saved default filter -------------------------------------------------------------------------


def test_a_saved_default_is_used_when_no_filter_is_given(logged_in, clinic, me):
    mine = charged(clinic, phone="9000000001")
    charged(clinic, phone="9000000002")
    services.assign_lead(lead=mine, member=me)
    response = logged_in.post(
        "/clinic/leads/default-filter", {"status": "new", "assigned": "mine", "q": ""}
    )
    assert response.status_code == 302
    assert InboxDefault.objects.get(member=me).query == "status=new&assigned=mine"
    page = logged_in.get("/clinic/leads")
    assert [lead.pk for lead, _ in page.context["rows"]] == [mine.pk]
    assert 'data-testid="using-default"' in page.text
    # An explicit filter, even an empty one, wins over the default.
    assert len(inbox_ids(logged_in, "?q=")) == 2
    # The export follows what the inbox shows.
    assert [int(r["lead"]) for r in export(logged_in)] == [mine.pk]


def test_forgetting_the_default_shows_everything_again(logged_in, clinic, me):
    charged(clinic)
    services.save_inbox_default(member=me, query="status=lost")
    assert inbox_ids(logged_in) == []
    logged_in.post("/clinic/leads/default-filter", {"clear": "1"})
    assert not InboxDefault.objects.exists()
    assert len(inbox_ids(logged_in)) == 1


def test_invalid_filters_are_not_saved(logged_in, me):
    response = logged_in.post("/clinic/leads/default-filter", {"status": "paid"})
    assert response.status_code == 302
    assert not InboxDefault.objects.exists()


def test_a_default_is_per_member_and_per_clinic(client, clinic, me, colleague):
    charged(clinic)
    services.save_inbox_default(member=me, query="status=lost")
    client.force_login(colleague.user)
    assert len(inbox_ids(client)) == 1


# The service and the database on their own ------------------------------------------------------


def test_bulk_service_refuses_bad_requests_before_touching_any_lead(clinic, outsider):
    lead = charged(clinic)
    for kwargs, why in [
        ({"action": "delete"}, "not a bulk action"),
        ({"action": "status", "status": "paid"}, "Choose the status"),
        ({"action": "assign"}, "Choose the team member"),
        ({"action": "assign", "member": outsider}, "not a member of this clinic"),
    ]:
        with pytest.raises(services.AntidoteError, match=why):
            services.bulk_update_leads(clinic=clinic, lead_ids=[lead.pk], **kwargs)
    lead.refresh_from_db()
    assert (lead.status, lead.assigned_to, lead.archived) == ("new", None, False)


def test_bulk_service_acts_once_per_lead_even_when_an_id_repeats(clinic):
    lead = charged(clinic)
    results = services.bulk_update_leads(
        clinic=clinic, lead_ids=[lead.pk, lead.pk], action="status", status="contacted"
    )
    assert [(r.lead_id, r.done) for r in results] == [(lead.pk, True)]


def test_a_duplicate_of_a_held_lead_is_refused_in_bulk_with_the_originals_number(clinic):
    original = services.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001")
    duplicate = services.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001")
    assert (original.billing_state, duplicate.billing_state) == ("held", "duplicate")
    [result] = services.bulk_update_leads(clinic=clinic, lead_ids=[duplicate.pk], action="archive")
    assert not result.done and f"lead #{original.pk}" in result.message


def test_the_database_refuses_an_empty_note_even_past_the_service(clinic, me):
    lead = charged(clinic)
    with pytest.raises(IntegrityError), transaction.atomic():
        LeadNote.objects.create(lead=lead, author=me.user, author_name="x", body="")


def test_a_note_outlives_its_authors_account_under_the_name_it_was_written_with(clinic, me):
    lead = charged(clinic)
    note = services.add_lead_note(lead=lead, author=me.user, body="First call done")
    me.user.delete()
    note.refresh_from_db()
    assert (note.author, note.author_name) == (None, "priya")


def test_removing_a_member_leaves_their_leads_unassigned(clinic, colleague):
    lead = charged(clinic)
    services.assign_lead(lead=lead, member=colleague)
    colleague.delete()
    lead.refresh_from_db()
    assert lead.assigned_to is None
