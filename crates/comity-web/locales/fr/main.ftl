# Tableau de bord Comity — français.

## Cadre
nav-label = Menu principal
nav-consultations = Consultations
nav-liaisons = Déclarations de liaison
nav-federation = Fédération
language-menu = Langue
login = Se connecter
logout = Se déconnecter
footer = Nœud Comity de { $org } · version { $version }
back-home = Retour aux consultations

## Langues
language-ar = arabe
language-en = anglais
language-es = espagnol
language-fr = français
language-ru = russe
language-zh = chinois
doc-fallback = Non disponible dans votre langue : affiché en { $language }, la langue de publication.

## Rôles
role-viewer = lecteur
role-editor = rédacteur
role-approver = approbateur
role-liaison-manager = gestionnaire des liaisons
role-admin = administrateur

## Connexion
login-title = Connexion
login-username = Nom du compte
login-password = Mot de passe
login-failed = Nom de compte ou mot de passe incorrect.
login-too-many = Trop de tentatives infructueuses. Patientez quelques minutes, puis réessayez.

## Erreurs
error-title = Une erreur est survenue
error-title-not-found = Introuvable
error-title-forbidden = Non autorisé
error-title-bad-request = Impossible tel que rédigé
error-title-conflict = Impossible pour le moment
error-csrf = Ce formulaire a expiré ou ne provient pas de ce site. Revenez en arrière, rechargez la page et réessayez.
error-form = Le formulaire n'a pas pu être lu : { $detail }
error-role = Cette action nécessite le rôle { $role } ou supérieur.
error-login-needed = Connectez-vous pour voir cette page.
error-not-found = Rien n'est conservé ici à cette adresse.
error-not-own = Seules les consultations de cette organisation peuvent être révisées ici.

## Mots courants
yes = oui
no = non
none = Aucun pour l'instant.
untitled = (sans titre)
restricted = Restreint
restricted-note = Cette déclaration est réservée à d'autres organisations : seul son en-tête signé est conservé ici.
overdue = en retard
late = tardive
cc = Copie
unchanged = (inchangé)
this-node = ce nœud

## Colonnes
col-organisation = Organisation
col-stakeholder-group = Groupe de parties prenantes
col-region = Région
col-reciprocal = Réciproque
col-connected = Connecté
col-dialled = Appel par
dialled-us = nous
dialled-them = eux (sortant)
dialled-both = les deux
dialled-none = —
reach-reachable = joignable
reach-dial-out-only = sortant uniquement
reach-unconfirmed = à l'écoute ; aucun partenaire ne s'est encore connecté
col-lag = Retard
col-last-error = Dernière erreur
col-checkpoint = Point de contrôle
checkpoint-none = aucun
checkpoint-size = taille {$size}
checkpoint-cosigned = cosigné par {$org},
col-title = Titre
col-topics = Thèmes
col-closes = Clôture
col-status = Statut
col-responses = Réponses
col-response = Réponse
col-revision = Révision
col-published = Publié
col-entry = Entrée
col-from = De
col-to = À
col-purpose = Objet
col-deadline = Échéance
col-state = État

## Fédération
federation-title = Fédération
federation-intro = Toutes les organisations que ce nœud suit, telles que leur profil signé les décrit, et l'état de la réplication avec chacune.
lag-none = à jour
lag-entries = { $origin } : { $count } entrées de retard
last-contact = dernier contact :

## Groupes de parties prenantes
sg-government = Gouvernement
sg-intergovernmental = Organisation intergouvernementale
sg-private-sector = Secteur privé
sg-civil-society = Société civile
sg-technical-academic = Communauté technique et universitaire
sg-unspecified = Non indiqué

## Statut des consultations
status-draft = Brouillon
status-upcoming = Pas encore ouverte
status-open = Ouverte
status-reply_period = Période de réplique
status-closed = Close
status-withdrawn = Retirée
status-report_published = Rapport publié

## Consultations
consultations-title = Consultations
consultations-none = Aucune consultation ne correspond à ces filtres.
consultation-new = Publier une consultation
filter-org = Organisation
filter-topic = Thème
filter-language = Langue du document
filter-status = Statut
filter-any = Toutes
filter-all = Toutes
filter-apply = Filtrer
field-title = Titre
field-language = Langue
field-summary = Résumé
field-opens = Ouverture
field-closes = Clôture
field-reply-closes = Fin de la période de réplique
field-topics = Thèmes (séparés par des virgules)
field-body = Texte
field-link = Page web
field-questions = Questions directrices (une par ligne)
field-contact = Contact
field-contact-name = Nom du contact
field-contact-email = Courriel du contact
field-on-behalf-of = Au nom de
field-note = Note
field-identifiers = Autres numéros de document
field-restricted = Restreinte : seuls les destinataires reçoivent le texte
dates-note = Les dates s'entendent « n'importe où sur Terre » : une consultation qui se clôt un jour donné reste ouverte jusqu'à la fin de ce jour partout dans le monde.
publish = Publier
attachments = Pièces jointes
report = Rapport de synthèse
revisions = Révisions
responses = Réponses
participation = Participation
respond = Répondre
revise = Réviser
revise-note = Laissez un champ vide pour le conserver. Chaque révision est une nouvelle entrée signée ; les précédentes restent dans le journal.

## Déclarations de liaison
liaisons-title = Déclarations de liaison
liaison-new = Rédiger une déclaration de liaison
tab-inbox = Reçues
tab-outbox = Envoyées
tab-awaiting = En attente d'action
tab-overdue = En retard
tab-drafts = Brouillons
purpose-action = Pour action
purpose-comment = Pour commentaires
purpose-information = Pour information
purpose-in_response = En réponse
purpose-unspecified = Non indiqué
state-awaiting = En attente
state-received = Reçue
state-accepted_for_action = Acceptée pour action
state-reply_coming = Réponse à venir
state-action_taken = Action menée
draft-draft = Brouillon
draft-approved = Approuvée par { $by }
draft-posted = Envoyée (entrée { $seq })
draft-save = Enregistrer le brouillon
approve = Approuver
post = Envoyer
recipients-note = Indiquez une organisation (« icann »), l'un de ses groupes (« itu/itu-t/sg17 ») ou un groupe listé par un partenaire ; séparez-les par des virgules.
recipients-own-note = Pour donner à un destinataire son propre objet et sa propre échéance, ajoutez « = » : « itu=action:2027-03-31 », « icann=information ».
recipients = Destinataires
receipts = Accusés de réception
replies = Réponses
in-reply-to = En réponse à
acknowledge = Accuser réception
reply = Répondre
reply-note = La réponse est enregistrée comme brouillon, adressée à l'expéditeur ; elle s'envoie depuis l'onglet Brouillons.
receipt-by-reply = par la réponse
reply-action-note = Une fois envoyée, la réponse marque cette déclaration « action menée » pour { $org }, avec un lien vers la réponse.

## Search
search-label = Rechercher dans les documents détenus ici
search-placeholder = Rechercher…
search-submit = Rechercher
search-title = Recherche
search-count = { $count } documents trouvés pour « { $query } »
search-none = Aucun document que vous pouvez lire ne contient ces mots.
search-empty = Saisissez des mots dans la zone de recherche : consultations, réponses et déclarations de liaison de toutes origines, dans toutes les langues.
search-kind-consultation = Consultation
search-kind-response = Réponse
search-kind-liaison = Déclaration de liaison

## Times and dates
time-now = à l’instant
time-ago-minutes = { $n ->
    [one] il y a { $n } minute
   *[other] il y a { $n } minutes
}
time-ago-hours = { $n ->
    [one] il y a { $n } heure
   *[other] il y a { $n } heures
}
time-ago-days = { $n ->
    [one] il y a { $n } jour
   *[other] il y a { $n } jours
}
time-ago-months = il y a { $n } mois
time-ago-years = { $n ->
    [one] il y a { $n } an
   *[other] il y a { $n } ans
}
time-in-minutes = { $n ->
    [one] dans { $n } minute
   *[other] dans { $n } minutes
}
time-in-hours = { $n ->
    [one] dans { $n } heure
   *[other] dans { $n } heures
}
time-in-days = { $n ->
    [one] dans { $n } jour
   *[other] dans { $n } jours
}
time-in-months = dans { $n } mois
time-in-years = { $n ->
    [one] dans { $n } an
   *[other] dans { $n } ans
}
month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre
date-day = { $day } { $month } { $year }
date-time = { $date } à { $time } UTC

## Pages of a list
page-info = Page { $page } sur { $pages } ({ $total } au total)
page-prev = Précédente
page-next = Suivante
