from django.urls import path

from leads import views

app_name = "leads"

urlpatterns = [
    path("", views.package_list, name="home"),
    path("packages/", views.package_list, name="package-list"),
    path("packages/<int:pk>/", views.package_detail, name="package-detail"),
    path("clinics/<slug:slug>/", views.clinic_page, name="clinic-page"),
    path("contact-clinic", views.contact_clinic, name="contact-clinic"),
    path("enquiry-sent", views.enquiry_sent, name="enquiry-sent"),
    path("clinic/dashboard", views.dashboard, name="dashboard"),
    path("clinic/leads", views.inbox, name="inbox"),
    path("clinic/analytics", views.analytics, name="analytics"),
    path("clinic/leads/<int:pk>", views.lead_detail, name="lead-detail"),
    path("clinic/leads/update-status", views.update_status, name="update-status"),
    path("clinic/leads/<int:pk>/notes", views.add_note, name="add-note"),
    path("clinic/leads/<int:pk>/assign", views.assign, name="assign"),
    path("clinic/leads/bulk", views.bulk, name="bulk"),
    path("clinic/leads/default-filter", views.save_default_filter, name="save-default-filter"),
    path("clinic/switch", views.switch_clinic, name="switch-clinic"),
    path("clinic/team", views.team, name="team"),
    path("clinic/team/<int:member_id>/role", views.change_role, name="team-role"),
    path("clinic/team/<int:member_id>/remove", views.remove_member, name="team-remove"),
    path("clinic/team/invite", views.invite, name="team-invite"),
    path(
        "clinic/team/invitations/<int:invitation_id>/revoke",
        views.revoke_invitation,
        name="team-revoke",
    ),
    path("invitations/<str:token>", views.accept_invitation, name="accept-invitation"),
]
