# Panel de Comity — español.

## Marco
nav-label = Menú principal
nav-consultations = Consultas
nav-liaisons = Declaraciones de enlace
nav-federation = Federación
language-menu = Idioma
login = Iniciar sesión
logout = Cerrar sesión
footer = Nodo Comity de { $org } · versión { $version }
back-home = Volver a las consultas

## Idiomas
language-ar = árabe
language-en = inglés
language-es = español
language-fr = francés
language-ru = ruso
language-zh = chino
doc-fallback = No disponible en su idioma: se muestra en { $language }, el idioma en que se publicó.

## Funciones
role-viewer = lector
role-editor = editor
role-approver = aprobador
role-liaison-manager = gestor de enlaces
role-admin = administrador

## Inicio de sesión
login-title = Iniciar sesión
login-username = Nombre de cuenta
login-password = Contraseña
login-failed = Nombre de cuenta o contraseña incorrectos.
login-too-many = Demasiados intentos fallidos. Espere unos minutos y vuelva a intentarlo.

## Errores
error-title = Se produjo un error
error-title-not-found = No encontrado
error-title-forbidden = No permitido
error-title-bad-request = No se puede hacer tal como está escrito
error-title-conflict = No es posible ahora
error-csrf = Este formulario ha caducado o no procede de este sitio. Vuelva atrás, recargue la página e inténtelo de nuevo.
error-form = No se pudo leer el formulario: { $detail }
error-role = Esto requiere la función { $role } o superior.
error-login-needed = Inicie sesión para ver esto.
error-not-found = No hay nada guardado aquí en esa dirección.
error-not-own = Aquí solo pueden revisarse las consultas de esta organización.

## Palabras comunes
yes = sí
no = no
none = Ninguno todavía.
untitled = (sin título)
restricted = Restringida
restricted-note = Esta declaración está restringida a otras organizaciones: aquí solo se guarda su encabezado firmado.
overdue = vencida
late = tardía
cc = Copia
unchanged = (sin cambios)
this-node = este nodo

## Columnas
col-organisation = Organización
col-stakeholder-group = Grupo de partes interesadas
col-region = Región
col-reciprocal = Recíproca
col-connected = Conectado
col-dialled = Conexión abierta por
dialled-us = nosotros
dialled-them = ellos (saliente)
dialled-both = ambos
dialled-none = —
reach-reachable = accesible
reach-dial-out-only = solo saliente
reach-unconfirmed = a la escucha; ningún socio se ha conectado aún
col-lag = Retraso
col-last-error = Último error
col-checkpoint = Punto de control
checkpoint-none = ninguno aún
checkpoint-size = tamaño {$size}
checkpoint-cosigned = cofirmado por {$org},
col-title = Título
col-topics = Temas
col-closes = Cierre
col-status = Estado
col-responses = Respuestas
col-response = Respuesta
col-revision = Revisión
col-published = Publicado
col-entry = Entrada
col-from = De
col-to = Para
col-purpose = Finalidad
col-deadline = Plazo
col-state = Situación

## Federación
federation-title = Federación
federation-intro = Todas las organizaciones que sigue este nodo, tal como las describe su perfil firmado, y el estado de la replicación con cada una.
lag-none = al día
lag-entries = { $origin }: { $count } entradas de retraso
last-contact = último contacto:

## Grupos de partes interesadas
sg-government = Gobierno
sg-intergovernmental = Organización intergubernamental
sg-private-sector = Sector privado
sg-civil-society = Sociedad civil
sg-technical-academic = Comunidad técnica y académica
sg-unspecified = No indicado

## Estado de las consultas
status-draft = Borrador
status-upcoming = Aún no abierta
status-open = Abierta
status-reply_period = Período de réplica
status-closed = Cerrada
status-withdrawn = Retirada
status-report_published = Informe publicado

## Consultas
consultations-title = Consultas
consultations-none = Ninguna consulta coincide con estos filtros.
consultation-new = Publicar una consulta
filter-org = Organización
filter-topic = Tema
filter-language = Idioma del documento
filter-status = Estado
filter-any = Cualquiera
filter-all = Todas
filter-apply = Filtrar
field-title = Título
field-language = Idioma
field-summary = Resumen
field-opens = Apertura
field-closes = Cierre
field-reply-closes = Fin del período de réplica
field-topics = Temas (separados por comas)
field-body = Texto
field-link = Página web
field-questions = Preguntas orientativas (una por línea)
field-contact = Contacto
field-contact-name = Nombre del contacto
field-contact-email = Correo del contacto
field-on-behalf-of = En nombre de
field-note = Nota
field-identifiers = Otros números de documento
field-restricted = Restringida: solo los destinatarios reciben el texto
dates-note = Las fechas se entienden «en cualquier lugar de la Tierra»: una consulta que cierra un día sigue abierta hasta que ese día termina en todo el mundo.
publish = Publicar
attachments = Archivos adjuntos
report = Informe de síntesis
revisions = Revisiones
responses = Respuestas
participation = Participación
respond = Responder
revise = Revisar
revise-note = Deje un campo vacío para conservarlo. Cada revisión es una nueva entrada firmada; las anteriores permanecen en el registro.

## Declaraciones de enlace
liaisons-title = Declaraciones de enlace
liaison-new = Redactar una declaración de enlace
tab-inbox = Recibidas
tab-outbox = Enviadas
tab-awaiting = Pendientes de acción
tab-overdue = Vencidas
tab-drafts = Borradores
purpose-action = Para acción
purpose-comment = Para comentarios
purpose-information = Para información
purpose-in_response = En respuesta
purpose-unspecified = No indicado
state-awaiting = Pendiente
state-received = Recibida
state-accepted_for_action = Aceptada para acción
state-reply_coming = Respuesta en preparación
state-action_taken = Acción realizada
draft-draft = Borrador
draft-approved = Aprobada por { $by }
draft-posted = Enviada (entrada { $seq })
draft-save = Guardar como borrador
approve = Aprobar
post = Enviar
recipients-note = Escriba una organización («icann»), uno de sus grupos («itu/itu-t/sg17») o un grupo que indique un socio; separe varios con comas.
recipients-own-note = Para dar a un destinatario su propio propósito y plazo, añada «=»: «itu=action:2027-03-31», «icann=information».
recipients = Destinatarios
receipts = Acuses de recibo
replies = Respuestas
in-reply-to = En respuesta a
acknowledge = Acusar recibo
reply = Responder
reply-note = La respuesta se guarda como borrador, dirigida al remitente; se envía desde la pestaña Borradores.
receipt-by-reply = con la respuesta
reply-action-note = Una vez enviada, la respuesta marca esta declaración como «acción realizada» para { $org }, con un enlace a la respuesta.

## Search
search-label = Buscar en los documentos que se guardan aquí
search-placeholder = Buscar…
search-submit = Buscar
search-title = Búsqueda
search-count = { $count } documentos encontrados para «{ $query }»
search-none = Ningún documento que pueda leer contiene estas palabras.
search-empty = Escriba palabras en el cuadro de búsqueda: consultas, respuestas y declaraciones de enlace de todos los orígenes, en cualquier idioma.
search-kind-consultation = Consulta
search-kind-response = Respuesta
search-kind-liaison = Declaración de enlace

## Times and dates
time-now = ahora mismo
time-ago-minutes = { $n ->
    [one] hace { $n } minuto
   *[other] hace { $n } minutos
}
time-ago-hours = { $n ->
    [one] hace { $n } hora
   *[other] hace { $n } horas
}
time-ago-days = { $n ->
    [one] hace { $n } día
   *[other] hace { $n } días
}
time-ago-months = { $n ->
    [one] hace { $n } mes
   *[other] hace { $n } meses
}
time-ago-years = { $n ->
    [one] hace { $n } año
   *[other] hace { $n } años
}
time-in-minutes = { $n ->
    [one] dentro de { $n } minuto
   *[other] dentro de { $n } minutos
}
time-in-hours = { $n ->
    [one] dentro de { $n } hora
   *[other] dentro de { $n } horas
}
time-in-days = { $n ->
    [one] dentro de { $n } día
   *[other] dentro de { $n } días
}
time-in-months = { $n ->
    [one] dentro de { $n } mes
   *[other] dentro de { $n } meses
}
time-in-years = { $n ->
    [one] dentro de { $n } año
   *[other] dentro de { $n } años
}
month-1 = enero
month-2 = febrero
month-3 = marzo
month-4 = abril
month-5 = mayo
month-6 = junio
month-7 = julio
month-8 = agosto
month-9 = septiembre
month-10 = octubre
month-11 = noviembre
month-12 = diciembre
date-day = { $day } de { $month } de { $year }
date-time = { $date }, { $time } UTC

## Pages of a list
page-info = Página { $page } de { $pages } ({ $total } en total)
page-prev = Anterior
page-next = Siguiente
