"""The relay's language: English messages are the keys, French is the catalogue below.

Templates call `_("…", name=value)` (jinja2's i18n extension, new style); Python code raises
`RelayError` with an English message and its parameters, translated when the page is rendered.
A message missing from the catalogue shows in English rather than failing; a test checks none is missing.
"""

from __future__ import annotations

FR: dict[str, str] = {
    # Hosted page
    "Relay %(event)s": "Relayer %(event)s",
    "Language": "Langue",
    "What you allow": "Ce que vous autorisez",
    "relaycast follows %(tags)s and picks the most insightful posts of the experts on site.":
        "relaycast suit %(tags)s et choisit les publications les plus éclairantes des experts sur place.",
    "On X, you approve each repost: you see exactly what will be reposted in your name before it happens. "
    "X's rules forbid automated reposting across accounts, so nothing is reposted without your click.":
        "Sur X, vous approuvez chaque repartage : vous voyez exactement ce qui sera repartagé en votre nom avant "
        "que cela n'arrive. Les règles de X interdisent le repartage automatisé entre comptes : rien n'est "
        "repartagé sans votre clic.",
    "On Mastodon, relaycast boosts the selected posts for you, without asking each time.":
        "Sur Mastodon, relaycast partage pour vous les publications choisies, sans vous demander à chaque fois.",
    "On Mastodon, you approve each boost before it happens.":
        "Sur Mastodon, vous approuvez chaque partage avant qu'il n'ait lieu.",
    "At most %(cap)s posts in your name for the whole event. You can lower this number or pause at any time.":
        "Au plus %(cap)s publications en votre nom pour tout l'événement. Vous pouvez baisser ce nombre ou faire "
        "une pause à tout moment.",
    "Access ends automatically on %(date)s: relaycast revokes it at the network and sends you a receipt.":
        "L'accès prend fin automatiquement le %(date)s : relaycast le révoque auprès du réseau et vous envoie un reçu.",
    "What is stored": "Ce qui est conservé",
    "Your user name and id on the network, and the access tokens: encrypted, and deleted when access ends.":
        "Votre nom et identifiant sur le réseau, et les jetons d'accès : chiffrés, et supprimés à la fin de l'accès.",
    "What was proposed to you and what was published in your name, kept %(days)s days for your receipt.":
        "Ce qui vous a été proposé et ce qui a été publié en votre nom, gardé %(days)s jours pour votre reçu.",
    "Your e-mail address if you give one, used only for proposals and your receipt once you confirm it.":
        "Votre adresse e-mail si vous la donnez, utilisée seulement pour les propositions et votre reçu, une fois "
        "confirmée.",
    "No advertising, no tracking, no third-party scripts.": "Pas de publicité, pas de pistage, pas de script tiers.",
    "E-mail for proposals and your receipt (optional)": "E-mail pour les propositions et votre reçu (facultatif)",
    "We send a confirmation link first; nothing else is sent until you open it.":
        "Nous envoyons d'abord un lien de confirmation ; rien d'autre n'est envoyé avant que vous l'ouvriez.",
    "Your Mastodon instance": "Votre instance Mastodon",
    "For example mastodon.social": "Par exemple mastodon.social",
    "Connect %(network)s": "Connecter %(network)s",
    "Join %(network)s with share links": "Rejoindre %(network)s avec des liens de partage",
    "Your Bluesky handle": "Votre pseudo Bluesky",
    "On Bluesky, relaycast holds no token: each proposal is a link to the post, and you repost it yourself.":
        "Sur Bluesky, relaycast ne détient aucun jeton : chaque proposition est un lien vers la publication, et vous la "
        "republiez vous-même.",
    "On Bluesky, you approve each repost before it happens: Bluesky's developer guidelines count automated "
    "interactions as spam, so nothing is reposted without your click.":
        "Sur Bluesky, vous approuvez chaque republication avant qu'elle ait lieu : les règles de Bluesky pour les "
        "développeurs comptent les interactions automatisées comme du spam, rien n'est donc republié sans votre clic.",
    "On LinkedIn, relaycast holds no token: each proposal is a link that opens the post or LinkedIn's share dialog, "
    "and you share it yourself.":
        "Sur LinkedIn, relaycast ne détient aucun jeton : chaque proposition est un lien qui ouvre la publication ou la "
        "fenêtre de partage de LinkedIn, et vous la partagez vous-même.",
    "On LinkedIn, you approve each share before it happens: LinkedIn's User Agreement forbids bots that share or "
    "re-share, so nothing is shared without your click.":
        "Sur LinkedIn, vous approuvez chaque partage avant qu'il ait lieu : les conditions d'utilisation de LinkedIn "
        "interdisent les robots qui partagent ou repartagent, rien n'est donc partagé sans votre clic.",
    "For example amina.bsky.social, or your own domain": "Par exemple amina.bsky.social, ou votre propre domaine",
    # The Bluesky handle a relay types, and the answer of their server
    "Type your Bluesky handle, for example amina.bsky.social.":
        "Saisissez votre pseudo Bluesky, par exemple amina.bsky.social.",
    "No Bluesky account answers for that handle.": "Aucun compte Bluesky ne répond à ce pseudo.",
    "That handle's account does not claim the handle back: it cannot be verified.":
        "Le compte de ce pseudo ne revendique pas ce pseudo en retour : il ne peut pas être vérifié.",
    "This Bluesky account's servers are not on public addresses.":
        "Les serveurs de ce compte Bluesky n'ont pas d'adresse publique.",
    "This Bluesky account's servers do not answer as Bluesky servers do.":
        "Les serveurs de ce compte Bluesky ne répondent pas comme des serveurs Bluesky.",
    "This answer does not come from the server the connection was sent to.":
        "Cette réponse ne vient pas du serveur auquel la connexion a été envoyée.",
    "The server answered for another account than the one you named.":
        "Le serveur a répondu pour un autre compte que celui que vous avez indiqué.",
    # Share-link mode (no token at all)
    "On X, relaycast holds no token: each proposal is a link to X's own repost page, and you repost it yourself.":
        "Sur X, relaycast ne détient aucun jeton : chaque proposition est un lien vers la page de repartage de X, "
        "et vous repartagez vous-même.",
    "On Mastodon, relaycast holds no token: each proposal is a link that opens the post on your own instance, and "
    "you boost it yourself.":
        "Sur Mastodon, relaycast ne détient aucun jeton : chaque proposition est un lien qui ouvre la publication sur "
        "votre propre instance, et vous la partagez vous-même.",
    "On %(networks)s, no token at all: only the user name you type (optional) and, for Mastodon, the name of your "
    "instance.":
        "Sur %(networks)s, aucun jeton : seulement le nom d'utilisateur que vous saisissez (facultatif) et, pour "
        "Mastodon, le nom de votre instance.",
    "Share-link mode: you do not connect your account and relaycast holds no token. Each proposal comes as a link to "
    "the network's own repost or boost page; you click there yourself.":
        "Mode lien de partage : vous ne connectez pas votre compte et relaycast ne détient aucun jeton. Chaque "
        "proposition arrive sous forme de lien vers la page de repartage ou de partage du réseau ; c'est vous qui "
        "cliquez.",
    "Your user name on %(network)s (optional, so your own posts are never proposed to you)":
        "Votre nom d'utilisateur sur %(network)s (facultatif, pour que vos propres publications ne vous soient jamais "
        "proposées)",
    "Connect another network": "Connecter un autre réseau",
    # Dashboard
    "Your relay for %(event)s": "Votre relais pour %(event)s",
    "Connected as %(user)s on %(network)s": "Connecté·e en tant que %(user)s sur %(network)s",
    "%(used)s of %(cap)s posts used": "%(used)s publication(s) sur %(cap)s utilisée(s)",
    "access ends %(date)s": "accès jusqu'au %(date)s",
    "Paused: nothing is proposed or published in your name until you resume.":
        "En pause : rien n'est proposé ni publié en votre nom jusqu'à la reprise.",
    "Pause": "Mettre en pause",
    "Resume": "Reprendre",
    "Lower my cap to": "Baisser mon plafond à",
    "Lower": "Baisser",
    "Revoke access now": "Révoquer l'accès maintenant",
    "relaycast revokes it at the network, deletes your tokens and sends you a receipt.":
        "relaycast le révoque auprès du réseau, supprime vos jetons et vous envoie un reçu.",
    "Access ended": "Accès terminé",
    "Ended %(date)s (%(reason)s).": "Terminé le %(date)s (%(reason)s).",
    "Your receipt": "Votre reçu",
    "Published in your name": "Publié en votre nom",
    "nothing": "rien",
    "Waiting for your approval": "En attente de votre approbation",
    "score %(score)s": "score %(score)s",
    "Will be reposted as is from your account:": "Sera repartagé tel quel depuis votre compte :",
    "original post": "publication d'origine",
    "Approve repost": "Approuver le repartage",
    "Sharing by link on %(network)s as %(user)s": "Partage par lien sur %(network)s en tant que %(user)s",
    "Sharing by link on %(network)s": "Partage par lien sur %(network)s",
    "relaycast holds no token for this account: it cannot post anything in your name. You repost or boost each "
    "proposal yourself, on the network.":
        "relaycast ne détient aucun jeton pour ce compte : il ne peut rien publier en votre nom. Vous repartagez "
        "chaque proposition vous-même, sur le réseau.",
    "Stop sharing now": "Arrêter le partage maintenant",
    "relaycast holds no token to revoke: it stops proposing and sends you a receipt.":
        "relaycast ne détient aucun jeton à révoquer : il cesse de proposer et vous envoie un reçu.",
    "Shared by you": "Partagé par vous",
    "You repost it yourself, as is, from your own account:": "Vous la repartagez vous-même, telle quelle, depuis votre compte :",
    "Repost on X": "Repartager sur X",
    "Boost on your instance": "Partager depuis votre instance",
    "Your cap of %(cap)s posts is reached: nothing more is recorded in your name.":
        "Votre plafond de %(cap)s publications est atteint : rien de plus n'est enregistré en votre nom.",
    "Skip": "Passer",
    "Nothing waiting.": "Rien en attente.",
    "Done in your name": "Fait en votre nom",
    "post": "publication",
    "Undo": "Annuler",
    "Nothing yet.": "Rien pour l'instant.",
    "Earlier proposals": "Propositions précédentes",
    "E-mail": "E-mail",
    "Confirmed: %(email)s": "Confirmée : %(email)s",
    "Waiting for confirmation: %(email)s. Open the link we sent.":
        "En attente de confirmation : %(email)s. Ouvrez le lien que nous avons envoyé.",
    "No e-mail address: your receipt stays on this page.": "Pas d'adresse e-mail : votre reçu reste sur cette page.",
    "Set e-mail": "Enregistrer l'e-mail",
    "Keep this page's address: it is your only key to this dashboard, valid until %(date)s.":
        "Gardez l'adresse de cette page : c'est votre seule clé pour ce tableau de bord, valable jusqu'au %(date)s.",
    "Confirm your e-mail address": "Confirmez votre adresse e-mail",
    "Use %(email)s for proposals and your receipt?": "Utiliser %(email)s pour les propositions et votre reçu ?",
    "Confirm": "Confirmer",
    "Back to the event page": "Retour à la page de l'événement",
    "Back to your dashboard": "Retour à votre tableau de bord",
    # Why a post scored or was picked (`relaycast.reasons`)
    "substantial text": "texte substantiel",
    "attributes a point to a speaker": "attribue une idée à un orateur",
    "quotes a speaker": "cite un orateur",
    "cites a paper": "cite un article",
    "states a number": "donne un chiffre",
    "names a method or tool": "nomme une méthode ou un outil",
    "explains what it does": "explique ce que cela fait",
    "states a finding or claim": "énonce un résultat ou une thèse",
    "links a paper, code or slides with a description": "lie un article, du code ou des diapos avec une description",
    "links a paper or code": "lie un article ou du code",
    "expert author (weight %(weight)s)": "auteur expert (poids %(weight)s)",
    "logistics": "logistique",
    "promotion": "publicité",
    "thanks or congratulations": "remerciements ou félicitations",
    "social chatter": "bavardage",
    "generic praise": "éloge sans contenu",
    "announces a talk": "annonce une présentation",
    "names a talk, not what it said": "nomme une présentation, pas ce qu'elle a dit",
    "about the author rather than the content": "parle de l'auteur plutôt que du contenu",
    "reply fragment": "fragment de réponse",
    "repost, not the original": "repartage, pas l'original",
    "link only": "lien seul",
    "too short": "trop court",
    "mostly tags": "surtout des mots-dièse",
    "possibly sensitive": "peut-être choquant",
    "reads like the informative posts of other events": "ressemble aux publications informatives d'autres événements",
    "reads like the uninformative posts of other events":
        "ressemble aux publications peu informatives d'autres événements",
    "echoed by %(count)s other author": "reprise par %(count)s autre auteur",
    "echoed by %(count)s other authors": "reprise par %(count)s autres auteurs",
    "diversity: %(ordinal)s pick of @%(handle)s lowered": "diversité : %(ordinal)s choix de @%(handle)s, score abaissé",
    "diversity: same session as another pick lowered": "diversité : même session qu'un autre choix, score abaissé",
    "says little about the event's subject: lowered": "parle peu du sujet de l'événement : score abaissé",
    "about the event's subject": "sur le sujet de l'événement",
    "from the session “%(title)s”": "de la session « %(title)s »",
    "names a speaker of the programme: %(speaker)s": "nomme un intervenant du programme : %(speaker)s",
    "written by a speaker of the programme: %(speaker)s": "écrit par un intervenant du programme : %(speaker)s",
    "listed by the organiser": "indiquée par l'organisateur",
    "picked on %(network)s": "choisie sur %(network)s",
    # Statuses
    "published": "publié",
    "undone": "annulé",
    "skipped": "passé",
    "approved": "approuvé",
    "expired": "expiré",
    "pending": "en attente",
    "publishing": "en cours",
    "shared": "partagé",
    # Error titles and messages
    "This request cannot be used": "Cette requête ne peut pas être utilisée",
    "Not allowed": "Non autorisé",
    "Not found": "Introuvable",
    "Already decided": "Déjà décidé",
    "Too large": "Trop volumineux",
    "Something went wrong": "Un problème est survenu",
    "Unknown network '%(network)s'.": "Réseau inconnu « %(network)s ».",
    "Unknown network.": "Réseau inconnu.",
    "This network is not offered for this event.": "Ce réseau n'est pas proposé pour cet événement.",
    "This e-mail address does not look valid.": "Cette adresse e-mail ne semble pas valide.",
    "The form is too large.": "Le formulaire est trop volumineux.",
    "The request is too large.": "La requête est trop volumineuse.",
    "The connection request is missing or malformed. Please start again.":
        "La demande de connexion est absente ou mal formée. Veuillez recommencer.",
    "You declined the connection: nothing was stored.": "Vous avez refusé la connexion : rien n'a été conservé.",
    "The network refused the connection (%(error)s): nothing was stored.":
        "Le réseau a refusé la connexion (%(error)s) : rien n'a été conservé.",
    "The connection answer is malformed. Please start again.":
        "La réponse de connexion est mal formée. Veuillez recommencer.",
    "This connection request is unknown, expired or already used. Please start again.":
        "Cette demande de connexion est inconnue, expirée ou déjà utilisée. Veuillez recommencer.",
    "This connection was started in another browser. Please start again here.":
        "Cette connexion a été commencée dans un autre navigateur. Veuillez recommencer ici.",
    "This answer belongs to another network. Please start again.":
        "Cette réponse appartient à un autre réseau. Veuillez recommencer.",
    "%(network)s refused the connection: nothing was stored. Please start again.":
        "%(network)s a refusé la connexion : rien n'a été conservé. Veuillez recommencer.",
    "The permission %(scopes)s was not granted: nothing was stored.":
        "L'autorisation %(scopes)s n'a pas été accordée : rien n'a été conservé.",
    "This link has expired.": "Ce lien a expiré.",
    "This link is not valid.": "Ce lien n'est pas valide.",
    "There is nothing here for this link.": "Il n'y a rien ici pour ce lien.",
    "%(network)s could not be reached. Please try again in a minute.":
        "%(network)s est injoignable. Veuillez réessayer dans une minute.",
    "Unknown action.": "Action inconnue.",
    "Unknown post.": "Publication inconnue.",
    "This proposal is no longer open (%(status)s).": "Cette proposition n'est plus ouverte (%(status)s).",
    "Only a published post can be undone.": "Seule une publication publiée peut être annulée.",
    "The cap must be a whole number from 0 to %(cap)s.": "Le plafond doit être un nombre entier de 0 à %(cap)s.",
    "This network is not connected.": "Ce réseau n'est pas connecté.",
    "This network is not offered in share-link mode for this event.":
        "Ce réseau n'est pas proposé en mode lien de partage pour cet événement.",
    "Type only your user name, for example amina_data.": "Saisissez seulement votre nom d'utilisateur, par exemple amina_data.",
    "This network is not connected in share-link mode.": "Ce réseau n'est pas connecté en mode lien de partage.",
    "Sharing is paused or ended for this network: nothing was recorded.":
        "Le partage est en pause ou terminé pour ce réseau : rien n'a été enregistré.",
    "Here you share each post yourself: use its share link.":
        "Ici, vous partagez chaque publication vous-même : utilisez son lien de partage.",
    # The e-mail digest's links
    "Approve this repost?": "Approuver ce repartage ?",
    "Skip this post?": "Passer cette publication ?",
    "Nothing will be published in your name for this post:": "Rien ne sera publié en votre nom pour cette publication :",
    "Open until %(date)s.": "Ouverte jusqu'au %(date)s.",
    "Expired": "Expiré",
    "not published": "non publié",
    "This link is not for this action.": "Ce lien n'est pas destiné à cette action.",
    "This proposal was already approved: nothing more was done.": "Cette proposition est déjà approuvée : rien de plus n'a été fait.",
    "This proposal was already skipped: nothing was published.": "Cette proposition a déjà été passée : rien n'a été publié.",
    "This proposal expired on %(date)s: nothing was published.": "Cette proposition a expiré le %(date)s : rien n'a été publié.",
    # Moderation
    "Moderate %(event)s": "Modérer %(event)s",
    "Round %(round)s": "Tour %(round)s",
    "decide by %(date)s": "décision avant le %(date)s",
    "No relay sees these posts before your decision. Approve or reject each one.":
        "Aucun relais ne voit ces publications avant votre décision. Approuvez ou rejetez chacune.",
    "Approve": "Approuver",
    "Reject": "Rejeter",
    "Send my decisions": "Envoyer mes décisions",
    "This round is %(status)s.": "Ce tour est %(status)s.",
    "approve": "approuvé",
    "reject": "rejeté",
    "decided": "décidé",
    "timed-out": "expiré sans décision",
    "too-late": "arrivé trop tard",
    "waiting": "en attente",
    "Decide every post: approve or reject.": "Décidez pour chaque publication : approuver ou rejeter.",
    "This round is already decided (%(status)s).": "Ce tour est déjà décidé (%(status)s).",
    "Too late: the round's time-out rule already applied.": "Trop tard : la règle d'expiration du tour s'est déjà appliquée.",
    # A connection the callback refuses after the network answered (what it sent is revoked at once)
    "This %(network)s account is already connected to another relaycast dashboard: nothing was stored.":
        "Ce compte %(network)s est déjà connecté à un autre tableau de bord relaycast : rien n'a été enregistré.",
    "Your earlier access to %(network)s is still being revoked. Please try again in a minute.":
        "Votre accès précédent à %(network)s est en cours de révocation. Réessayez dans une minute.",
    "Another %(network)s account is connected to this dashboard: revoke it first. Nothing was stored.":
        "Un autre compte %(network)s est connecté à ce tableau de bord : révoquez-le d'abord. Rien n'a été enregistré.",
    # Why access ended, and how the revocation was verified (stored in English on the receipt)
    "the event ended": "l'événement est terminé",
    "access expired": "l'accès a expiré",
    "access was revoked at X": "l'accès a été révoqué chez X",
    "you revoked access from your dashboard": "vous avez révoqué l'accès depuis votre tableau de bord",
    "access token refused by X after revocation": "jeton d'accès refusé par X après la révocation",
    "access and refresh tokens refused by X after revocation":
        "jetons d'accès et de renouvellement refusés par X après la révocation",
    "every token relaycast received (including those a refresh replaced) refused by X after revocation":
        "chaque jeton reçu par relaycast (y compris ceux qu'un renouvellement a remplacés) refusé par X après la révocation",
    "you connected this account again": "vous avez reconnecté ce compte",
    "the connection did not complete": "la connexion n'a pas abouti",
    "relaycast never held a token for this account: nothing to revoke":
        "relaycast n'a jamais détenu de jeton pour ce compte : rien à révoquer",
    # The Mastodon instance a relay types (netguard's refusals)
    "An IP address is not accepted: type the instance's name.":
        "Une adresse IP n'est pas acceptée : saisissez le nom de l'instance.",
    "Only https:// addresses are accepted.": "Seules les adresses https:// sont acceptées.",
    "Only the standard https port is accepted.": "Seul le port https standard est accepté.",
    "Please type the address of your Mastodon instance, for example mastodon.social.":
        "Saisissez l'adresse de votre instance Mastodon, par exemple mastodon.social.",
    "That address is too long.": "Cette adresse est trop longue.",
    "That instance could not be found.": "Cette instance est introuvable.",
    "That instance does not have a public internet address.": "Cette instance n'a pas d'adresse publique sur Internet.",
    "That instance's address could not be understood.": "L'adresse de cette instance est incompréhensible.",
    "That is not a valid instance name.": "Ce n'est pas un nom d'instance valide.",
    "That name is not a public internet domain.": "Ce nom n'est pas un domaine public d'Internet.",
    "Type only the instance's name, without a path.": "Saisissez seulement le nom de l'instance, sans chemin.",
    "Type only the instance's name, without a user name or password.":
        "Saisissez seulement le nom de l'instance, sans nom d'utilisateur ni mot de passe.",
    "Type only the instance's name, without anything after it.": "Saisissez seulement le nom de l'instance, sans rien après.",
    # Quiet hours, in the relay's own time zone
    "Quiet hours: nothing is published in your name between %(start)s and %(end)s, in your own time zone "
    "(%(zone)s unless you choose yours below). What you approve at night is published when they end.":
        "Heures calmes : rien n'est publié en votre nom entre %(start)s et %(end)s, dans votre propre fuseau horaire "
        "(%(zone)s, sauf si vous choisissez le vôtre ci-dessous). Ce que vous approuvez la nuit est publié à leur fin.",
    "Your time zone (optional)": "Votre fuseau horaire (facultatif)",
    "The event's time zone (%(zone)s)": "Le fuseau horaire de l'événement (%(zone)s)",
    "Nothing is published in your name between %(start)s and %(end)s in this time zone.":
        "Rien n'est publié en votre nom entre %(start)s et %(end)s dans ce fuseau horaire.",
    "Quiet hours": "Heures calmes",
    "Nothing is published in your name between %(start)s and %(end)s, %(zone)s.":
        "Rien n'est publié en votre nom entre %(start)s et %(end)s, %(zone)s.",
    "Your time zone": "Votre fuseau horaire",
    "Set time zone": "Enregistrer le fuseau horaire",
    "This time zone is not known: choose one from the list.": "Ce fuseau horaire est inconnu : choisissez-en un dans la liste.",
    # Requests refused before any page runs
    "This request came from another site: nothing was done. Open the event page and try again from there.":
        "Cette requête vient d'un autre site : rien n'a été fait. Ouvrez la page de l'événement et réessayez depuis celle-ci.",
    "Not allowed here": "Non autorisé ici",
    "There is no page at this address.": "Il n'y a pas de page à cette adresse.",
    "This page cannot be used this way.": "Cette page ne s'utilise pas ainsi.",
    "This request cannot be used.": "Cette requête ne peut pas être utilisée.",
    "Something went wrong. Please try again in a minute.": "Un problème est survenu. Réessayez dans une minute.",
    # Limits
    "Too many requests": "Trop de requêtes",
    "No more places": "Plus de place",
    "An e-mail was sent here a moment ago. Please try again in %(minutes)s minute(s).":
        "Un e-mail vient d'être envoyé ici. Réessayez dans %(minutes)s minute(s).",
    "Too many addresses are waiting for confirmation right now. Please try again in %(minutes)s minute(s).":
        "Trop d'adresses attendent leur confirmation en ce moment. Réessayez dans %(minutes)s minute(s).",
    "Too many people are joining from here right now. Please try again in %(minutes)s minute(s).":
        "Trop de personnes rejoignent depuis ici en ce moment. Réessayez dans %(minutes)s minute(s).",
    "%(network)s takes no more relays for this event: every place it can serve is taken. Nothing was stored.":
        "%(network)s n'accepte plus de relais pour cet événement : toutes les places qu'il peut servir sont prises. "
        "Rien n'a été conservé.",
    "%(network)s takes no more relays for this event: every place it can serve is taken.":
        "%(network)s n'accepte plus de relais pour cet événement : toutes les places qu'il peut servir sont prises.",
    "This address was replaced by a newer one: confirm the newest link you received.":
        "Cette adresse a été remplacée par une plus récente : confirmez le dernier lien reçu.",
    # Dashboard links: one generation per relay
    "This dashboard link was replaced by a newer one and no longer opens the dashboard.":
        "Ce lien de tableau de bord a été remplacé par un plus récent et n'ouvre plus le tableau de bord.",
    "This link was replaced": "Ce lien a été remplacé",
    "We can send your current link to the e-mail address you confirmed (never to this page).":
        "Nous pouvons envoyer votre lien actuel à l'adresse e-mail que vous avez confirmée (jamais à cette page).",
    "E-mail me my current link": "M'envoyer mon lien actuel par e-mail",
    "No confirmed address? Connect your account again from the event page: your dashboard opens with its current link.":
        "Pas d'adresse confirmée ? Connectez de nouveau votre compte depuis la page de l'événement : votre tableau de bord "
        "s'ouvre avec son lien actuel.",
    "Check your e-mail": "Consultez vos e-mails",
    "If this dashboard has a confirmed e-mail address, its current link is on its way there.":
        "Si ce tableau de bord a une adresse e-mail confirmée, son lien actuel y est envoyé.",
    "This is your new dashboard link: older links no longer open this dashboard.":
        "Voici votre nouveau lien de tableau de bord : les liens précédents n'ouvrent plus ce tableau de bord.",
    "It was also sent to %(email)s.": "Il a aussi été envoyé à %(email)s.",
    "Your dashboard link": "Le lien de votre tableau de bord",
    "Send me a new link": "M'envoyer un nouveau lien",
    "If someone else may have this address: every older link stops working, and the new one opens here (and goes to "
    "your confirmed e-mail address).":
        "Si quelqu'un d'autre a pu obtenir cette adresse : tous les liens précédents cessent de fonctionner, et le "
        "nouveau s'ouvre ici (et part à votre adresse e-mail confirmée).",
    # Linking an account to an existing dashboard: the relay confirms
    "Link %(user)s on %(network)s to your relaycast dashboard?":
        "Lier %(user)s sur %(network)s à votre tableau de bord relaycast ?",
    "This account joins the dashboard the connection was started from: whoever holds that dashboard sees what is "
    "proposed and published in its name, and can act for it. Nothing is linked until you confirm.":
        "Ce compte rejoint le tableau de bord depuis lequel la connexion a été lancée : qui détient ce tableau de bord "
        "voit ce qui est proposé et publié en son nom, et peut agir pour lui. Rien n'est lié avant votre confirmation.",
    "If you did not start this from your own dashboard, do not link: relaycast gives the access back to %(network)s at once.":
        "Si vous n'avez pas lancé cela depuis votre propre tableau de bord, ne liez pas : relaycast rend aussitôt "
        "l'accès à %(network)s.",
    "Link this account": "Lier ce compte",
    "Do not link": "Ne pas lier",
    "Nothing was linked": "Rien n'a été lié",
    "relaycast revoked the access you had just granted at %(network)s and keeps nothing of it.":
        "relaycast a révoqué auprès de %(network)s l'accès que vous veniez d'accorder et n'en garde rien.",
    "This confirmation is unknown, expired or already answered: nothing was linked.":
        "Cette confirmation est inconnue, expirée ou a déjà reçu une réponse : rien n'a été lié.",
    "you declined linking this account to a dashboard": "vous avez refusé de lier ce compte à un tableau de bord",
    # The event's visibility on a receipt
    "How visible %(event)s was when this receipt was made: %(relays)s relays carried it, with %(posts)s posts in their names that reached up to %(reach)s followers.":
        "La visibilité de %(event)s à l'émission de ce reçu : %(relays)s relais l'ont relayé, avec %(posts)s publications en leur nom, vues par jusqu'à %(reach)s abonnés.",
    "The posts made in your name reached up to %(reach)s followers (%(followers)s followers when you connected, once per post).":
        "Les publications faites en votre nom ont atteint jusqu'à %(reach)s abonnés (vos %(followers)s abonnés à la connexion, une fois par publication).",
    "The event's public summary: %(url)s": "Le bilan public de l'événement : %(url)s",
    "The event's public summary": "Le bilan public de l'événement",
}

CATALOGUES = {"fr": FR}


def translate(lang: str, message: str, **params: object) -> str:
    text = CATALOGUES.get(lang, {}).get(message, message)
    return text % params if params else text
